using Platform.RateLimiting;
using Platform.Tests.Redis;
using Xunit.Abstractions;

namespace Platform.Tests.RateLimiting;

/// <summary>A partition's slot moved to another master (<see cref="SlotMigration"/>) while 8 callers hammer its limit.</summary>
[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class RateLimitReshardTests(RedisClusterFixture cluster, ITestOutputHelper output)
{
    [Theory]
    [InlineData(RateLimitAlgorithm.SlidingWindow)]
    [InlineData(RateLimitAlgorithm.FixedWindow)]
    public async Task WhileAPartitionsSlotMovesTheLimitIsNeverExceeded(RateLimitAlgorithm algorithm)
    {
        var connection = cluster.Connection;
        var store = new RedisRateLimitStore(connection);
        var partition = $"reshard-{Guid.NewGuid():N}";
        // One window longer than the whole run: every admission counts against the same 200.
        var rule = new RateLimitRule("reshard", 200, TimeSpan.FromMinutes(5), algorithm);
        using var traffic = new ReshardTraffic();
        var admitted = 0;
        var refused = 0;
        await SlotMigration.FillAsync(connection, partition, 300);

        var migration = await SlotMigration.MoveDuringAsync(cluster.Cluster, SlotMigration.SlotOf(connection, RedisRateLimitStore.Key(partition, rule)), async stop =>
        {
            await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        var decision = await store.DecideAsync(partition, rule);
                        Interlocked.Increment(ref decision.Admitted ? ref admitted : ref refused);
                        traffic.Success();
                        // Paced: about 80 decisions a second, so the limit is reached during the move, not before it.
                        await Task.Delay(100);
                    }
                    catch (Exception e)
                    {
                        traffic.Failure(e);
                        await Task.Delay(20);
                    }
                }
            })));
        });

        output.WriteLine(migration.ToString());
        output.WriteLine($"{algorithm}: {traffic}; admitted {admitted}, refused {refused}");

        Assert.Empty(traffic.NotOutages);
        Assert.InRange(admitted, 1, rule.Limit);
        Assert.True(refused > 0, "the limit was never reached: the test proved nothing");
    }
}
