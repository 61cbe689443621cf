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
