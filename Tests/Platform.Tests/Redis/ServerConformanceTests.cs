using StackExchange.Redis;

namespace Platform.Tests.Redis;

[Collection(RedisCollection.Name)]
public sealed class ConformanceOnRedisServer(RedisServerFixture redis) : ServerConformanceTests(redis);

[Collection(GarnetCollection.Name)]
public sealed class ConformanceOnGarnet(GarnetServerFixture garnet) : ServerConformanceTests(garnet);

[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class ConformanceOnCluster(RedisClusterFixture cluster) : ServerConformanceTests(cluster);

/// <summary>What every building block assumes of its server, checked on each server we run.</summary>
public abstract class ServerConformanceTests(RedisServerFixture redis)
{
    /// <summary>
    /// A read-then-write script must not interleave with other clients. Redis guarantees it; Garnet only with
    /// <c>--lua-transaction-mode</c> (it locks the script's KEYS), which is why our runtimes always pass it.
    /// Without it, this test loses increments on Garnet.
    /// </summary>
    [Fact]
    public async Task AScriptThatReadsThenWritesIsNeverInterleavedWithOtherClients()
    {
        const string readThenWrite = "local v = tonumber(redis.call('GET', KEYS[1]) or '0'); redis.call('SET', KEYS[1], v + 1); return v + 1";
        RedisKey key = $"conformance:{{{Guid.NewGuid():N}}}:counter";
        await using var connections = await redis.ConnectManyAsync(4);
        await Task.WhenAll(Enumerable.Range(0, 16).Select(caller => Task.Run(async () =>
        {
            var db = connections[caller].GetDatabase();
            for (var i = 0; i < 500; i++)
            {
                await db.ScriptEvaluateAsync(readThenWrite, [key]);
            }
        })));

        Assert.Equal(16 * 500, (long)await redis.Connection.GetDatabase().StringGetAsync(key));
    }

    [Fact]
    public async Task TheServerRefusesClientsWithoutThePassword()
    {
        await using var anonymous = await ConnectionMultiplexer.ConnectAsync(
            $"{redis.ConnectionString.Split(',')[0]},abortConnect=false,connectTimeout=2000,asyncTimeout=2000");

        var refused = await Assert.ThrowsAnyAsync<RedisException>(() => anonymous.GetDatabase().StringGetAsync("anything"));
        Assert.Contains("NOAUTH", refused.ToString());
    }
}
