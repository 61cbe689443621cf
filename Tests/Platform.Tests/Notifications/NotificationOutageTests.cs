using Platform.Notifications;
using Platform.Redis;
using Platform.Tests.Redis;
using StackExchange.Redis;

namespace Platform.Tests.Notifications;

/// <summary>
/// The notifier's Redis connection drops under it. Each test has its own redis-server (it kills things), and uses
/// CLIENT KILL, which Garnet does not serve.
/// </summary>
public sealed class NotificationOutageTests : IAsyncLifetime
{
    private static readonly RedisScript PublishScript = RedisScript.FromResource<NotificationPublisher>("publish.lua");
    private readonly FakeMembership _membership = new();
    private RedisServerProcess _server = null!;
    private ConnectionMultiplexer _admin = null!;
    private NotifierHost _host = null!;

    public async Task InitializeAsync()
    {
        _server = await RedisServerProcess.StartNewAsync();
        _admin = await ConnectionMultiplexer.ConnectAsync($"{_server.ConnectionString},allowAdmin=true");
        _host = await NotifierHost.StartAsync(_server.ConnectionString, _membership);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _admin.DisposeAsync();
        await _server.DisposeAsync();
    }

    [RedisServerFact("CLIENT KILL")]
    public async Task EventsPublishedWhileTheSubscriptionIsDownArriveFromTheHistoryInOrder()
    {
        var token = await _host.SignInAsync("u-outage");
        await using var client = await SseClient.ConnectAsync(_host.Client, token);
        var before = await _host.Publisher.PublishAsync(NotificationChannels.SystemAlert, new { message = "before", severity = "info" });
        Assert.Equal(before, Assert.Single(await client.ReadEventsAsync(1)).Id);

        // In one transaction: drop every subscriber connection, then publish 20 events. None can reach the notifier
        // by pub/sub: its subscription is gone before the first is published.
        var transaction = _admin.GetDatabase().CreateTransaction();
        _ = transaction.ExecuteAsync("CLIENT", "KILL", "TYPE", "pubsub");
        var published = Enumerable.Range(0, 20).Select(i => transaction.ScriptEvaluateAsync(PublishScript.Source,
            [NotificationKeys.Sequence, NotificationKeys.History(NotificationChannels.SystemAlert), NotificationKeys.Trimmed,
             NotificationKeys.Epoch, NotificationKeys.TrimmedTopics, NotificationKeys.Epoch],
            [NotificationChannels.SystemAlert, "system_alert", $$"""{"message":"during {{i}}","severity":"info"}""", "",
             NotificationKeys.HistoryLength, NotificationKeys.Live, NotificationKeys.NewEpoch(), "",
             NotificationKeys.TrimmedTopicsKept, (long)NotificationKeys.DedupeLifetime.TotalMilliseconds])).ToList();
        Assert.True(await transaction.ExecuteAsync());
        var ids = (await Task.WhenAll(published)).Select(r => (long)((RedisResult[])r!)[0]).ToList();

        // The client notices nothing but a delay: all 20, in order, then live ones as before.
        Assert.Equal(ids, (await client.ReadEventsAsync(20, TimeSpan.FromSeconds(30))).Select(e => e.Id!.Value));
        Assert.Equal(20, _host.Hub.RecoveredEvents);
        var after = await _host.Publisher.PublishAsync(NotificationChannels.SystemAlert, new { message = "after", severity = "info" });
        Assert.Equal(after, Assert.Single(await client.ReadEventsAsync(1)).Id);
    }

    [RedisServerFact("CLIENT KILL")]
    public async Task ARedisRestartThatLostTheDataEndsStreamsAndTheyResumeWithAResetEvenOnceTheNewIdsPassedTheirs()
    {
        var token = await _host.SignInAsync("u-restart");
        await using var client = await SseClient.ConnectAsync(_host.Client, token);
        for (var i = 0; i < 5; i++)
        {
            await _host.Publisher.PublishAsync(NotificationChannels.SystemAlert, new { message = $"old {i}", severity = "info" });
        }
        var lastSeen = (await client.ReadEventsAsync(5))[^1];
        Assert.Equal(5, lastSeen.Id);

        // No persistence: the restarted server has no sequence, no history and no sessions.
        await _server.KillAsync();
        await _server.StartAsync();
        await WaitUntilPublishedAsync();
        var published = new List<long> { 1 };
        for (var i = 0; i < 9; i++)
        {
            published.Add(await _host.Publisher.PublishAsync(NotificationChannels.SystemAlert, new { message = $"new {i}", severity = "info" }));
        }
        Assert.Equal(10, published[^1]); // past the client's 5: a bare sequence can no longer tell that data was lost

        // The process cannot fill that hole from the history: the stream ends, and the client resumes.
        Assert.True(await client.EndsWithinAsync(TimeSpan.FromSeconds(30)), "the stream went on over a hole in the ids");
        var newToken = await _host.SignInAsync("u-restart");
        await using var resumed = await SseClient.ConnectAsync(_host.Client, newToken, lastSeen.EventId);
        var events = await resumed.ReadEventsAsync(11);
        Assert.Equal("reset", events[0].Type);
        Assert.Equal(published, events.Skip(1).Select(e => e.Id!.Value));
        Assert.All(events.Skip(1), e => Assert.NotEqual(lastSeen.Epoch, e.Epoch));
    }

    private async Task WaitUntilPublishedAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                await _host.Publisher.PublishAsync(NotificationChannels.SystemAlert, new { message = "new", severity = "info" });
                return;
            }
            catch (RedisConnectionException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }
}
