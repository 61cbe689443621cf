using System.Text;
using Platform.Notifications;
using Platform.Tests.Redis;

namespace Platform.Tests.Notifications;

[Collection(RedisCollection.Name)]
public sealed class NotificationFanoutOnRedisServer(RedisServerFixture redis) : NotificationFanoutTests(redis);

[Collection(GarnetCollection.Name)]
public sealed class NotificationFanoutOnGarnet(GarnetServerFixture garnet) : NotificationFanoutTests(garnet);

[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class NotificationFanoutOnCluster(RedisClusterFixture cluster) : NotificationFanoutTests(cluster);

/// <summary>What one event costs the notifier per client: the hub's one encoding, shared by every stream.</summary>
public abstract class NotificationFanoutTests(RedisServerFixture redis)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task EveryStreamIsHandedTheOneFrameTheHubEncodedForAnEvent()
    {
        await using var host = await NotifierHost.StartAsync(redis.ConnectionString, new FakeMembership());
        using var timeout = new CancellationTokenSource(Wait);
        var subscriptions = new List<NotificationSubscription>();
        for (var i = 0; i < 3; i++)
        {
            subscriptions.Add((await host.Hub.SubscribeAsync(null, timeout.Token))!);
        }
        try
        {
            var id = await host.Publisher.PublishAsync(NotificationChannels.SystemAlert, new { message = "once", severity = "info" });

            var received = new List<NotificationEvent>();
            foreach (var subscription in subscriptions)
            {
                received.Add(await NextEventAsync(subscription, timeout.Token));
            }

            var first = received[0];
            Assert.Equal(id, first.Id);
            // One event object for every stream, so its frame (encoded once, on first use) is one array of bytes.
            Assert.All(received, e => Assert.Same(first, e));
            Assert.Equal($"event: system_alert\ndata: {first.Json}\nid: {first.EventId}\n\n", Encoding.UTF8.GetString(first.Frame));
        }
        finally
        {
            subscriptions.ForEach(s => s.Dispose());
        }
    }

    /// <summary>
    /// A waiting stream lends its writer to the hub, which writes alerts for it; an event whose visibility needs a
    /// membership look-up goes through the stream's own loop. Mixed, with wake-ups every 10 ms (heartbeats) and alerts
    /// that arrive while the stream's loop waits for a look-up, every stream still gets exactly what it may see, each
    /// once, in id order.
    /// </summary>
    [Fact]
    public async Task AlertsTheHubWritesAndMemberEventsTheStreamWritesArriveOnceInIdOrder()
    {
        await using var host = await NotifierHost.StartAsync(redis.ConnectionString, new FakeMembership(), new Dictionary<string, string?>
        {
            ["Notifications:HeartbeatInterval"] = "00:00:00.040",
        });
        var membership = (FakeMembership)host.Membership;
        string member = $"u{Guid.NewGuid():N}", outsider = $"u{Guid.NewGuid():N}", project = $"p{Guid.NewGuid():N}";
        membership.Add(member, project);
        var streams = new List<SseClient>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                streams.Add(await SseClient.ConnectAsync(host.Client, await host.SignInAsync(i % 2 == 0 ? member : outsider)));
            }

            // Each alert right behind a member event: it reaches the hub while the streams' loops look the member up.
            var published = new List<(bool Member, long Id)>();
            for (var i = 0; i < 100; i++)
            {
                var deployment = host.Publisher.PublishAsync(NotificationChannels.DeploymentStatus,
                    new { projectId = project, deploymentId = $"d{i}", jobId = $"j{i}", status = "running" });
                var alerts = Enumerable.Range(0, 2).Select(n => host.Publisher.PublishAsync(NotificationChannels.SystemAlert,
                    new { message = $"m{i}-{n}", severity = "info" })).ToList();
                published.Add((true, await deployment));
                published.AddRange((await Task.WhenAll(alerts)).Select(id => (false, id)));
                await Task.Delay(TimeSpan.FromMilliseconds(i % 5));
            }

            var forMembers = published.Select(p => p.Id).Order().ToList();
            var forOthers = published.Where(p => !p.Member).Select(p => p.Id).Order().ToList();
            for (var i = 0; i < streams.Count; i++)
            {
                var expected = i % 2 == 0 ? forMembers : forOthers;
                var received = await streams[i].ReadEventsAsync(expected.Count, Wait);
                Assert.Equal(expected, received.Select(e => e.Id!.Value));
            }
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }
        }
    }

    private static async Task<NotificationEvent> NextEventAsync(NotificationSubscription subscription, CancellationToken cancellationToken)
    {
        while (true)
        {
            var next = await subscription.Events.ReadAsync(cancellationToken);
            if (!ReferenceEquals(next, NotificationSubscription.WakeUp))
            {
                return next;
            }
        }
    }
}
