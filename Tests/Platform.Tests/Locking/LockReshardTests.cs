using Microsoft.Extensions.Logging.Abstractions;
using Platform.Locking;
using Platform.Tests.Redis;
using Xunit.Abstractions;

namespace Platform.Tests.Locking;

/// <summary>A lock's slot moved to another master (<see cref="SlotMigration"/>) while 16 contenders take it in turn.</summary>
[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class LockReshardTests(RedisClusterFixture cluster, ITestOutputHelper output)
{
    [Fact]
    public async Task WhileALocksSlotMovesNoTwoContendersHoldItAtOnceAndFencingTokensOnlyGrow()
    {
        var name = $"reshard-{Guid.NewGuid():N}";
        var connection = cluster.Connection;
        var locks = new RedisDistributedLock(connection, TestMeters.Factory, NullLogger<RedisDistributedLock>.Instance);
        using var traffic = new ReshardTraffic();
        var inside = 0;
        var overlaps = 0;
        var fences = new List<long>();
        var acquiredAt = new List<DateTime>();
        await SlotMigration.FillAsync(connection, name, 300);

        var migration = await SlotMigration.MoveDuringAsync(cluster.Cluster, SlotMigration.SlotOf(connection, LockKeys.Lock(name)), async stop =>
        {
            await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        await using var handle = await locks.TryAcquireAsync(name, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2));
                        if (handle is null)
                        {
                            continue;
                        }
                        // Asked before counting the holder in: a token refused during the move leaves no one counted inside.
                        var fence = await handle.GetFencingTokenAsync();
                        if (Interlocked.Increment(ref inside) > 1)
                        {
                            Interlocked.Increment(ref overlaps);
                        }
                        fences.Add(fence); // safe: only the holder writes
                        acquiredAt.Add(DateTime.UtcNow);
                        traffic.Success();
                        await Task.Delay(2);
                        Interlocked.Decrement(ref inside);
                    }
                    catch (Exception e)
                    {
                        traffic.Failure(e);
                        await Task.Delay(20);
                    }
                }
            })));
            // A release refused during the move leaves the lock to its 2 s lease: the contenders go on past it.
        }, after: TimeSpan.FromSeconds(4));
        var afterMove = acquiredAt.Count(t => t > migration.FinishedAt);

        output.WriteLine(migration.ToString());
        output.WriteLine($"acquisitions: {traffic}");
        output.WriteLine($"overlaps {overlaps}, fences {fences.Count}, acquisitions after the move {afterMove}");

        Assert.Empty(traffic.NotOutages);
        Assert.Equal(0, overlaps);
        Assert.Equal(fences.Order(), fences);
        Assert.Equal(fences.Count, fences.Distinct().Count());
        Assert.True(afterMove > 0, "nobody got the lock after the move");
    }
}
