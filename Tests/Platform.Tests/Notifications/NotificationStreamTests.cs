using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Platform.Notifications;
using Platform.Tests.Redis;
using StackExchange.Redis;

namespace Platform.Tests.Notifications;

[Collection(RedisCollection.Name)]
public sealed class NotificationStreamOnRedisServer(RedisServerFixture redis) : NotificationStreamTests(redis);

[Collection(GarnetCollection.Name)]
public sealed class NotificationStreamOnGarnet(GarnetServerFixture garnet) : NotificationStreamTests(garnet);

[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class NotificationStreamOnCluster(RedisClusterFixture cluster) : NotificationStreamTests(cluster)
{
    /// <summary>
    /// Sharded pub/sub: the hub listens on the shard that owns the channel's slot (SSUBSCRIBE), where the publish
    /// script sends it (SPUBLISH), and nothing travels as classic PUBLISH over the cluster bus to every node.
    /// </summary>
    [Fact]
    public async Task OnAClusterEventsTravelBySharedPubSubWithinTheChannelsShard()
    {
        var token = await Host.SignInAsync($"u{Guid.NewGuid():N}"[..12]);
        await using var client = await SseClient.ConnectAsync(Host.Client, token);
        var id = await Host.Publisher.PublishAsync(NotificationChannels.SystemAlert, new { message = "sharded", severity = "info" });

        Assert.Equal([id], (await client.ReadEventsAsync(1)).Select(e => e.Id!.Value));
        var owner = Redis.Connection.GetServer((await Redis.Connection.GetDatabase().IdentifyEndpointAsync(NotificationKeys.Live))!);
        var sharded = (RedisResult[])(await owner.ExecuteAsync("PUBSUB", "SHARDNUMSUB", NotificationKeys.Live))!;
        Assert.True((long)sharded[1] >= 1, "the hub is not subscribed with SSUBSCRIBE on the channel's shard");
        foreach (var node in Redis.Connection.GetServers())
        {
            var classic = (RedisResult[])(await node.ExecuteAsync("PUBSUB", "NUMSUB", NotificationKeys.Live))!;
            Assert.Equal(0, (long)classic[1]);
        }
    }
}

/// <summary>The stream, the history and alerts over real HTTP (Kestrel on loopback) against a real server.</summary>
public abstract class NotificationStreamTests(RedisServerFixture redis) : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);
    private readonly FakeMembership _membership = new();
    private NotifierHost _host = null!;

    private protected NotifierHost Host => _host;
    private protected FakeMembership Membership => _membership;
    private protected RedisServerFixture Redis => redis;

    protected virtual IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Notifications:HeartbeatInterval"] = "00:00:00.300",
        ["Notifications:SessionRevalidationInterval"] = "00:00:00.500",
    };

    public async Task InitializeAsync() => _host = await NotifierHost.StartAsync(redis.ConnectionString, _membership, Settings);

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static string NewUser() => $"u{Guid.NewGuid():N}"[..12];

    private Task<long> AlertAsync(string message) =>
        _host.Publisher.PublishAsync(NotificationChannels.SystemAlert, new { message, severity = "info" });

    private static List<long> Ids(IEnumerable<SseMessage> events) => events.Select(e => e.Id!.Value).ToList();

    private static List<long> Range(long first, long last) => Enumerable.Range(0, (int)(last - first + 1)).Select(i => first + i).ToList();

    [Fact]
    public async Task AReconnectWithLastEventIdGetsExactlyTheFiftyMissedInOrderThenLiveOnes()
    {
        var token = await _host.SignInAsync(NewUser());
        long seen;
        await using (var first = await SseClient.ConnectAsync(_host.Client, token))
        {
            var id = await AlertAsync("before");
            var received = Assert.Single(await first.ReadEventsAsync(1));
            Assert.Equal(("system_alert", id), (received.Type, received.Id!.Value));
            seen = id;
        }

        var missed = new List<long>();
        for (var i = 0; i < 50; i++)
        {
            missed.Add(await AlertAsync($"missed {i}"));
        }

        await using var resumed = await SseClient.ConnectAsync(_host.Client, token, lastEventId: seen);
        var replayed = await resumed.ReadEventsAsync(50);
        Assert.Equal(missed, Ids(replayed));
        Assert.All(replayed, e => Assert.Equal("system_alert", e.Type));
        var last = JsonDocument.Parse(replayed[^1].Data).RootElement;
        Assert.Equal(("system:alert", missed[^1], "missed 49"),
            (last.GetProperty("channel").GetString(), last.GetProperty("id").GetInt64(), last.GetProperty("payload").GetProperty("message").GetString()));

        var live = await AlertAsync("live");
        Assert.Equal([live], Ids(await resumed.ReadEventsAsync(1)));
    }

    [Fact]
    public async Task AResumeWhilePublishingHasNoGapAndNoDuplicateAtTheSeam()
    {
        var token = await _host.SignInAsync(NewUser());
        var start = await AlertAsync("start");
        // 80 events (fewer than the 100 kept, so the resume is complete), published while the client reconnects.
        var published = new List<long>();
        var twenty = new TaskCompletionSource();
        var publisher = Task.Run(async () =>
        {
            for (var i = 0; i < 80; i++)
            {
                published.Add(await AlertAsync($"during {i}"));
                if (i == 20)
                {
                    twenty.SetResult();
                }
                await Task.Delay(2);
            }
        });

        await twenty.Task;
        // The history is read while events keep coming: some are in both the history and the live feed.
        await using var client = await SseClient.ConnectAsync(_host.Client, token, lastEventId: start);
        await publisher;

        Assert.Equal(Range(start + 1, start + 80), published); // nothing else publishes on this server meanwhile
        Assert.Equal(published, Ids(await client.ReadEventsAsync(80)));
        var live = await AlertAsync("after");
        Assert.Equal([live], Ids(await client.ReadEventsAsync(1)));
    }

    [Fact]
    public async Task AnIdOlderThanTheHistoryGetsAResetThenTheWholeHistory()
    {
        var token = await _host.SignInAsync(NewUser());
        var old = await AlertAsync("old");
        var kept = new List<long>();
        for (var i = 0; i < 150; i++)
        {
            kept.Add(await AlertAsync($"alert {i}"));
        }

        await using var client = await SseClient.ConnectAsync(_host.Client, token, lastEventId: old, lastEventIdInQuery: true);
        var reset = Assert.Single(await client.ReadEventsAsync(1));
        Assert.Equal("reset", reset.Type);
        Assert.Equal(old.ToString(), JsonDocument.Parse(reset.Data).RootElement.GetProperty("lastEventId").GetString());
        // This user sees system alerts only: the whole history is the last 100 of them.
        Assert.Equal(kept[^100..], Ids(await client.ReadEventsAsync(100)));
    }

    [Fact]
    public async Task AViewerOfARareProjectIsNotResetWhenOnlyOtherProjectsEventsWereTrimmed()
    {
        string rareViewer = NewUser(), busyViewer = NewUser();
        string rare = $"p{Guid.NewGuid():N}", busy = $"p{Guid.NewGuid():N}";
        _membership.Add(rareViewer, rare);
        _membership.Add(busyViewer, busy);
        var rareToken = await _host.SignInAsync(rareViewer);
        var busyToken = await _host.SignInAsync(busyViewer);
        string seen;
        await using (var stream = await SseClient.ConnectAsync(_host.Client, rareToken))
        {
            var again = await _host.Publisher.PublishAsync(NotificationChannels.DeploymentStatus,
                new { projectId = rare, deploymentId = "d0", jobId = "j0", status = "building" });
            var received = Assert.Single(await stream.ReadEventsAsync(1));
            Assert.Equal(again, received.Id);
            seen = received.EventId!;
        }

        // While the rare viewer is away, the busy project's events push everything it had out of the shared channel's history.
        for (var i = 0; i < NotificationKeys.HistoryLength + 20; i++)
        {
            await _host.Publisher.PublishAsync(NotificationChannels.DeploymentStatus,
                new { projectId = busy, deploymentId = $"d{i}", jobId = "j", status = "running" });
        }
        var next = await _host.Publisher.PublishAsync(NotificationChannels.DeploymentStatus,
            new { projectId = rare, deploymentId = "d0", jobId = "j0", status = "succeeded" });

        // Nothing the rare viewer may see is gone: no reset, no replay of what it had, just the one it missed.
        await using (var resumed = await SseClient.ConnectAsync(_host.Client, rareToken, seen))
        {
            Assert.Equal([("deployment_status", next)], (await resumed.ReadEventsAsync(1)).Select(e => (e.Type!, e.Id!.Value)));
            Assert.False(await resumed.EndsWithinAsync(TimeSpan.FromMilliseconds(300)));
        }
        // A member of the busy project resuming from the same place did lose events: it gets a reset.
        await using var busyResumed = await SseClient.ConnectAsync(_host.Client, busyToken, seen);
        Assert.Equal("reset", (await busyResumed.ReadEventsAsync(1))[0].Type);
    }

    [Fact]
    public async Task AfterAFlushWithoutADroppedConnectionTheHubDeliversTheNewEpochAndOldStreamsResumeWithAReset()
    {
        var token = await _host.SignInAsync(NewUser());
        string lastSeen;
        await using (var client = await SseClient.ConnectAsync(_host.Client, token))
        {
            for (var i = 0; i < 5; i++)
            {
                await AlertAsync($"old {i}");
            }
            lastSeen = (await client.ReadEventsAsync(5))[^1].EventId!;
        }

        // Redis loses its data with the notifier's connection up: a flush (as a failover to an empty replica would).
        await using (var admin = await redis.ConnectAsync(",allowAdmin=true"))
        {
            foreach (var server in RedisServerFixture.Masters(admin))
            {
                await server.FlushAllDatabasesAsync();
            }
        }
        var newToken = await _host.SignInAsync(NewUser()); // the flush signed everyone out
        await using var fresh = await SseClient.ConnectAsync(_host.Client, newToken);
        var published = new List<long>();
        for (var i = 0; i < 8; i++)
        {
            published.Add(await AlertAsync($"new {i}"));
        }
        Assert.Equal(Range(1, 8), published); // the new epoch's ids pass the old client's id 5

        // The hub noticed the new epoch at once: a live stream gets every new event, not only those above id 5.
        var live = await fresh.ReadEventsAsync(8);
        Assert.Equal(published, Ids(live));
        // A client resuming with an id from before the loss is told so, and gets the new epoch's history.
        await using var resumed = await SseClient.ConnectAsync(_host.Client, newToken, lastSeen);
        var events = await resumed.ReadEventsAsync(9);
        Assert.Equal("reset", events[0].Type);
        Assert.Equal(published, Ids(events.Skip(1)));
        Assert.NotEqual(lastSeen[..lastSeen.LastIndexOf('-')], live[0].Epoch);
    }

    [Fact]
    public async Task TwoReplicasDeliverEveryEventToTheirClientsExactlyOnce()
    {
        await using var replica = await NotifierHost.StartAsync(redis.ConnectionString, _membership, Settings);
        var token = await _host.SignInAsync(NewUser());
        await using var onFirst = await SseClient.ConnectAsync(_host.Client, token);
        await using var onSecond = await SseClient.ConnectAsync(replica.Client, token);

        var ids = new List<long>();
        for (var i = 0; i < 100; i++)
        {
            ids.Add(await AlertAsync($"alert {i}"));
        }

        Assert.Equal(ids, Ids(await onFirst.ReadEventsAsync(100)));
        Assert.Equal(ids, Ids(await onSecond.ReadEventsAsync(100)));
        // Nothing more: the next message on each is the next event, not a second copy.
        var next = await AlertAsync("next");
        Assert.Equal([next], Ids(await onFirst.ReadEventsAsync(1)));
        Assert.Equal([next], Ids(await onSecond.ReadEventsAsync(1)));
    }

    [Fact]
    public async Task DeploymentEventsReachOnlyMembersAndProjectCreatedOnlyAdmins()
    {
        string member = NewUser(), outsider = NewUser(), admin = NewUser();
        string project = $"p{Guid.NewGuid():N}", otherProject = $"p{Guid.NewGuid():N}";
        _membership.Add(member, project);
        _membership.Add(outsider, otherProject);
        await using var memberStream = await SseClient.ConnectAsync(_host.Client, await _host.SignInAsync(member));
        await using var outsiderStream = await SseClient.ConnectAsync(_host.Client, await _host.SignInAsync(outsider));
        var adminToken = await _host.SignInAsync(admin, admin: true);
        await using var adminStream = await SseClient.ConnectAsync(_host.Client, adminToken);

        var deployed = await _host.Publisher.PublishAsync(NotificationChannels.DeploymentStatus,
            new { projectId = project, deploymentId = "d1", jobId = "j1", status = "running" });
        var created = await _host.Publisher.PublishAsync(NotificationChannels.ProjectCreated,
            new { projectId = project, name = "demo", ownerId = member });
        var alert = await AlertAsync("for everyone");

        var memberEvents = await memberStream.ReadEventsAsync(2);
        Assert.Equal([("deployment_status", deployed), ("system_alert", alert)], memberEvents.Select(e => (e.Type!, e.Id!.Value)));
        Assert.Equal(project, JsonDocument.Parse(memberEvents[0].Data).RootElement.GetProperty("payload").GetProperty("projectId").GetString());
        // Admins are not members unless listed.
        Assert.Equal([("project_created", created), ("system_alert", alert)], (await adminStream.ReadEventsAsync(2)).Select(e => (e.Type!, e.Id!.Value)));
        Assert.Equal([("system_alert", alert)], (await outsiderStream.ReadEventsAsync(1)).Select(e => (e.Type!, e.Id!.Value)));

        // The history endpoint applies the same rules.
        Assert.Contains(deployed, await HistoryIdsAsync(await _host.SignInAsync(member), NotificationChannels.DeploymentStatus));
        Assert.DoesNotContain(deployed, await HistoryIdsAsync(await _host.SignInAsync(outsider), NotificationChannels.DeploymentStatus));
        Assert.Empty(await HistoryIdsAsync(await _host.SignInAsync(outsider), NotificationChannels.ProjectCreated));
        Assert.Contains(created, await HistoryIdsAsync(adminToken, NotificationChannels.ProjectCreated));

        // Membership granted later: once api invalidates the cached answer, the next event gets through.
        _membership.Add(outsider, project);
        await _host.Members.InvalidateAsync(project);
        var later = await _host.Publisher.PublishAsync(NotificationChannels.DeploymentStatus,
            new { projectId = project, deploymentId = "d1", jobId = "j1", status = "succeeded" });
        Assert.Equal([later], Ids(await outsiderStream.ReadEventsAsync(1)));
        Assert.Equal([later], Ids(await memberStream.ReadEventsAsync(1)));
    }

    /// <summary>
    /// Membership is one list per project, not one answer per viewer: 200 viewers of one event cost one load (each
    /// load as slow as a call to api), shared by every stream of this process, and later events none.
    /// </summary>
    [Fact]
    public async Task TwoHundredViewersOfOneProjectsEventCostOneMembershipLoad()
    {
        const int viewers = 200;
        var project = $"p{Guid.NewGuid():N}";
        var users = Enumerable.Range(0, viewers).Select(_ => NewUser()).ToList();
        users.ForEach(user => _membership.Add(user, project));
        _membership.Latency = TimeSpan.FromMilliseconds(50);
        var streams = new List<SseClient>();
        try
        {
            foreach (var user in users)
            {
                streams.Add(await SseClient.ConnectAsync(_host.Client, await _host.SignInAsync(user)));
            }
            var loadsBefore = _membership.Loads;

            var first = await _host.Publisher.PublishAsync(NotificationChannels.DeploymentStatus,
                new { projectId = project, deploymentId = "d1", jobId = "j", status = "queued" });
            var received = await Task.WhenAll(streams.Select(stream => stream.ReadEventsAsync(1, TimeSpan.FromSeconds(30))));
            Assert.All(received, events => Assert.Equal([first], Ids(events)));
            Assert.Equal(1, _membership.Loads - loadsBefore);

            var second = await _host.Publisher.PublishAsync(NotificationChannels.DeploymentStatus,
                new { projectId = project, deploymentId = "d1", jobId = "j", status = "succeeded" });
            received = await Task.WhenAll(streams.Select(stream => stream.ReadEventsAsync(1, TimeSpan.FromSeconds(30))));
            Assert.All(received, events => Assert.Equal([second], Ids(events)));
            Assert.Equal(1, _membership.Loads - loadsBefore);
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task HistoryAnswers503WithoutTheInternalCauseWhenMembershipCannotBeRead()
    {
        var project = $"p{Guid.NewGuid():N}";
        await _host.Publisher.PublishAsync(NotificationChannels.DeploymentStatus,
            new { projectId = project, deploymentId = "d1", jobId = "j", status = "queued" });
        _membership.Failure = new HttpRequestException("Connection refused (api.internal:5100)");

        using var request = new HttpRequestMessage(HttpMethod.Get, $"/notifications/history?channel={NotificationChannels.DeploymentStatus}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await _host.SignInAsync(NewUser()));
        using var response = await _host.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("api.internal", body);
        Assert.DoesNotContain("refused", body, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The cap counts a user's streams in Redis, so it holds across notifier processes.</summary>
    [Fact]
    public async Task AUsersFourthStreamIsRefusedOnEveryProcessAndClosingOneFreesASlot()
    {
        var settings = new Dictionary<string, string?>(Settings) { ["Notifications:MaxStreamsPerUser"] = "3" };
        await using var first = await NotifierHost.StartAsync(Redis.ConnectionString, _membership, settings);
        await using var second = await NotifierHost.StartAsync(Redis.ConnectionString, _membership, settings);
        var user = NewUser();
        var token = await first.SignInAsync(user);
        var other = await first.SignInAsync(NewUser());

        await using var a1 = await SseClient.ConnectAsync(first.Client, token);
        var a2 = await SseClient.ConnectAsync(first.Client, token);
        await using var b1 = await SseClient.ConnectAsync(second.Client, token);
        foreach (var host in new[] { first, second })
        {
            using var refused = await SseClient.SendAsync(host.Client, token);
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        }
        // Another user's streams are their own.
        await using (await SseClient.ConnectAsync(second.Client, other))
        {
        }

        await a2.DisposeAsync();
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var response = await SseClient.SendAsync(second.Client, token);
            using (response)
            {
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    break;
                }
                Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            }
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(5), "no slot was freed 5 s after a stream closed");
            await Task.Delay(50);
        }
    }

    private async Task<List<long>> HistoryIdsAsync(string token, string channel)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/notifications/history?channel={channel}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await _host.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = await response.Content.ReadFromJsonAsync<JsonElement[]>();
        Assert.All(events!, e => Assert.Equal(channel, e.GetProperty("channel").GetString()));
        return events!.Select(e => e.GetProperty("id").GetInt64()).ToList();
    }

    [Fact]
    public async Task OnlyAdminsPostAlertsAndBadAlertsChangeNothing()
    {
        var userToken = await _host.SignInAsync(NewUser());
        var adminToken = await _host.SignInAsync(NewUser(), admin: true);
        await using var stream = await SseClient.ConnectAsync(_host.Client, userToken);
        var before = (long)await redis.Connection.GetDatabase().StringGetAsync("notify:{events}:sequence");

        Assert.Equal(HttpStatusCode.Forbidden, (await PostAlertAsync(userToken, """{"message":"hi","severity":"info"}""")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await PostAlertAsync(null, """{"message":"hi","severity":"info"}""")).Status);
        foreach (var bad in new[] { """{"message":"hi"}""", """{"message":"","severity":"info"}""", """{"message":"hi","severity":"loud"}""", "not json", $$"""{"message":"{{new string('x', 1001)}}","severity":"info"}""" })
        {
            var (status, mediaType, _) = await PostAlertAsync(adminToken, bad);
            Assert.Equal((HttpStatusCode.BadRequest, "application/problem+json"), (status, mediaType));
        }
        Assert.Equal(before, (long)await redis.Connection.GetDatabase().StringGetAsync("notify:{events}:sequence"));

        var (accepted, _, body) = await PostAlertAsync(adminToken, """{"message":"maintenance at noon","severity":"warning"}""");
        Assert.Equal(HttpStatusCode.Accepted, accepted);
        var id = JsonDocument.Parse(body).RootElement.GetProperty("id").GetInt64();
        var received = Assert.Single(await stream.ReadEventsAsync(1));
        Assert.Equal(("system_alert", id), (received.Type, received.Id!.Value));
        var payload = JsonDocument.Parse(received.Data).RootElement.GetProperty("payload");
        Assert.Equal(("maintenance at noon", "warning"), (payload.GetProperty("message").GetString(), payload.GetProperty("severity").GetString()));
    }

    private async Task<(HttpStatusCode Status, string? MediaType, string Body)> PostAlertAsync(string? token, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/notifications/alerts")
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        using var response = await _host.Client.SendAsync(request);
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task TheStreamIsRefusedWithoutAValidSessionAndAcceptsTheCookie()
    {
        using (var none = await SseClient.SendAsync(_host.Client, token: null))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        }
        using (var forged = await SseClient.SendAsync(_host.Client, token: $"{NewUser()}.not-a-real-token"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
        }
        var token = await _host.SignInAsync(NewUser());
        using var request = new HttpRequestMessage(HttpMethod.Get, "/notifications/stream");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Headers.Add("Last-Event-ID", "twelve");
        using var invalid = await _host.Client.SendAsync(request);
        Assert.Equal((HttpStatusCode.BadRequest, "application/problem+json"), (invalid.StatusCode, invalid.Content.Headers.ContentType?.MediaType));

        await using var byCookie = await SseClient.ConnectAsync(_host.Client, token, byCookie: true);
        var id = await AlertAsync("cookie");
        Assert.Equal([id], Ids(await byCookie.ReadEventsAsync(1)));
    }

    [Fact]
    public async Task TheStreamEndsWhenItsSessionIsRevoked()
    {
        var user = NewUser();
        var token = await _host.SignInAsync(user);
        var otherToken = await _host.SignInAsync(user);
        await using var revoked = await SseClient.ConnectAsync(_host.Client, token);
        await using var kept = await SseClient.ConnectAsync(_host.Client, otherToken);
        var session = await _host.Sessions.ValidateAsync(token);

        Assert.True(await _host.Sessions.RevokeAsync(user, session!.Id));

        // Revalidation every 0.5 s in these tests: the stream ends well within the margin.
        Assert.True(await revoked.EndsWithinAsync(TimeSpan.FromSeconds(5)), "the stream of a revoked session is still open");
        Assert.False(await kept.EndsWithinAsync(TimeSpan.FromSeconds(1.5)), "the stream of the user's other session ended too");
        using var again = await SseClient.SendAsync(_host.Client, token);
        Assert.Equal(HttpStatusCode.Unauthorized, again.StatusCode);
    }

    [Fact]
    public async Task AnIdleStreamSendsHeartbeatComments()
    {
        await using var client = await SseClient.ConnectAsync(_host.Client, await _host.SignInAsync(NewUser()));
        var comments = new List<string>();
        var clock = Stopwatch.StartNew();
        while (comments.Count(c => c == "heartbeat") < 3)
        {
            var message = await client.ReadAsync(TimeSpan.FromSeconds(5));
            Assert.NotNull(message);
            Assert.True(message.IsComment, $"an event on an idle stream: {message}");
            comments.Add(message.Comment!);
        }
        Assert.Equal("stream open", comments[0]);
        // Three heartbeats at 0.3 s need at least 0.9 s: they are paced, not a burst.
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.8), $"3 heartbeats in {clock.Elapsed}");
    }

    [Fact]
    public async Task AClientThatStopsReadingIsDroppedAtItsBufferWhileOthersGetEverything()
    {
        await using var small = await NotifierHost.StartAsync(redis.ConnectionString, _membership, new Dictionary<string, string?>
        {
            ["Notifications:ClientBufferSize"] = "16",
        });
        var token = await small.SignInAsync(NewUser());
        await using var reader = await SseClient.ConnectAsync(small.Client, token);
        const int Count = 3000;
        var received = new List<long>(Count);
        var reading = Task.Run(async () =>
        {
            while (received.Count < Count)
            {
                var next = Assert.Single(await reader.ReadEventsAsync(1, TimeSpan.FromSeconds(30)));
                lock (received)
                {
                    received.Add(next.Id!.Value);
                }
            }
        });

        // A client that sends its request, then never reads a byte.
        using var stalled = new TcpClient { ReceiveBufferSize = 4096 };
        await stalled.ConnectAsync(small.Address.Host, small.Address.Port);
        var request = $"GET /notifications/stream HTTP/1.1\r\nHost: {small.Address.Authority}\r\nAuthorization: Bearer {token}\r\n\r\n";
        await stalled.GetStream().WriteAsync(Encoding.ASCII.GetBytes(request));
        await WaitUntilAsync(() => small.Hub.ConnectedClients == 2, "the stalled client never subscribed");

        // 3,000 events of 4 KB (12 MB: more than any socket buffer holds), paced by the reader that keeps up, so
        // only the stalled client can fill its 16-event buffer.
        var padding = new string('x', 4000);
        var ids = new List<long>(Count);
        for (var i = 0; i < Count; i++)
        {
            ids.Add(await small.Publisher.PublishAsync(NotificationChannels.SystemAlert, new { message = padding, severity = "info" }));
            await WaitUntilAsync(() => { lock (received) { return received.Count >= ids.Count - 8 || reading.IsCompleted; } }, "the reader stalled");
        }

        await reading;
        Assert.Equal(ids, received);
        await WaitUntilAsync(() => small.Hub.SlowClientDrops == 1, "the stalled client was not dropped");
        await WaitUntilAsync(() => small.Hub.ConnectedClients == 1, "the dropped client still holds a subscription");
        Assert.Equal(1, small.Hub.SlowClientDrops);
    }

    [Fact]
    public async Task ThePublishersTraceContinuesInTheDeliverySpan()
    {
        var spans = new System.Collections.Concurrent.ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == NotificationTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Add,
        };
        ActivitySource.AddActivityListener(listener);
        await using var client = await SseClient.ConnectAsync(_host.Client, await _host.SignInAsync(NewUser()));

        using var request = new Activity("test request").Start();
        var id = await AlertAsync("traced");
        request.Stop();
        Assert.Equal([id], Ids(await client.ReadEventsAsync(1)));

        // Other tests publish at the same time (other servers, same ids): this test's spans are those of its trace.
        var publish = Assert.Single(spans, s => s.OperationName == "notify publish system_alert" && s.TraceId == request.TraceId);
        Assert.Equal(id, publish.GetTagItem("notification.id"));
        await WaitUntilAsync(() => spans.Any(s => s.OperationName == "notify deliver system_alert" && s.TraceId == request.TraceId),
            "no delivery span in the publisher's trace");
        var deliver = spans.Single(s => s.OperationName == "notify deliver system_alert" && s.TraceId == request.TraceId);
        Assert.Equal(id, deliver.GetTagItem("notification.id"));
        Assert.Equal((publish.TraceId, publish.SpanId), (deliver.TraceId, deliver.ParentSpanId));
    }

    private protected static async Task WaitUntilAsync(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(1);
        }
    }
}
