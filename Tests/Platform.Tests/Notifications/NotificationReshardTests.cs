using Platform.Hosting;
using Platform.Notifications;
using Platform.Tests.Redis;
using Xunit.Abstractions;

namespace Platform.Tests.Notifications;

/// <summary>The notifications' slot (<c>{events}</c>) moved to another master (<see cref="SlotMigration"/>) while events are published.</summary>
[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class NotificationReshardTests(RedisClusterFixture cluster, ITestOutputHelper output)
{
    /// <summary>Fewer than the history keeps per channel, so every acknowledged event must still be in it.</summary>
    private const int Events = 80;

    [Fact]
    public async Task WhileTheEventsSlotMovesNoAcknowledgedEventIsLostFromHistory()
    {
        var connection = cluster.Connection;
        var publisher = new NotificationPublisher(connection, new NotificationTelemetry(TestMeters.Factory));
        var history = new NotificationHistory(connection);
        var run = Guid.NewGuid().ToString("N");
        using var traffic = new ReshardTraffic();
        var acknowledged = new List<PublishedNotification>();
        await SlotMigration.FillAsync(connection, "events", 300);

        var migration = await SlotMigration.MoveDuringAsync(cluster.Cluster, SlotMigration.SlotOf(connection, NotificationKeys.History(NotificationChannels.SystemAlert)), async stop =>
        {
            for (var i = 0; i < Events && !stop.IsCancellationRequested;)
            {
                try
                {
                    // Retried with the same dedupe key, as the outbox re-sends: never two events for one publish.
                    acknowledged.Add(await publisher.PublishOnceAsync(NotificationChannels.SystemAlert, new { message = $"reshard {i}", severity = "info" }, $"{run}-{i}"));
                    traffic.Success();
                    i++;
                    await Task.Delay(40);
                }
                catch (Exception e)
                {
                    traffic.Failure(e);
                    await Task.Delay(20);
                }
            }
        }, after: TimeSpan.FromSeconds(2));
        var read = await history.ReadSinceAsync(new EventPosition(null, 0), [NotificationChannels.SystemAlert]);
        var kept = read.Events.Select(e => (e.Epoch, e.Id)).ToHashSet();
        var lost = acknowledged.Where(a => !kept.Contains((a.Epoch, a.Id))).ToList();

        output.WriteLine(migration.ToString());
        output.WriteLine($"publishes: {traffic}");
        output.WriteLine($"acknowledged {acknowledged.Count}, distinct ids {acknowledged.Select(a => a.Id).Distinct().Count()}, lost from history {lost.Count}");

        Assert.Empty(traffic.NotOutages);
        Assert.True(acknowledged.Count > 20, $"only {acknowledged.Count} publishes acknowledged");
        Assert.All(acknowledged, a => Assert.Equal(read.Epoch, a.Epoch));
        Assert.Empty(lost);
        Assert.Equal(acknowledged.Count, acknowledged.Select(a => a.Id).Distinct().Count());
    }

    /// <summary>
    /// The live channel (<c>notify:{events}:live</c>, sharded pub/sub on a cluster) lives in the slot that moves: Redis
    /// drops the source's shard subscribers when the slot leaves it. A notifier must still hear events published after.
    /// </summary>
    [Fact]
    public async Task AfterTheEventsSlotMovedALiveSubscriberStillReceivesEvents()
    {
        await using var host = await NotifierHost.StartAsync(cluster.ConnectionString, new FakeMembership());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var subscription = (await host.Hub.SubscribeAsync(null, timeout.Token))!;
        var before = await host.Publisher.PublishAsync(NotificationChannels.SystemAlert, new { message = "before the move", severity = "info" });
        Assert.Equal(before, (await NextEventAsync(subscription, timeout.Token)).Id);

        var migration = await SlotMigration.MoveAsync(cluster.Cluster, SlotMigration.SlotOf(cluster.Connection, NotificationKeys.History(NotificationChannels.SystemAlert)),
            batchSize: 10, pause: TimeSpan.Zero);
        output.WriteLine(migration.ToString());
        long after = 0;
        while (after == 0)
        {
            try
            {
                after = await host.Publisher.PublishAsync(NotificationChannels.SystemAlert, new { message = "after the move", severity = "info" });
            }
            catch (Exception e) when (RedisOutage.IsOutage(e) && !timeout.IsCancellationRequested)
            {
                await Task.Delay(50);
            }
        }

        using var heard = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token);
        heard.CancelAfter(TimeSpan.FromSeconds(10));
        Assert.Equal(after, (await NextEventAsync(subscription, heard.Token)).Id);
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
