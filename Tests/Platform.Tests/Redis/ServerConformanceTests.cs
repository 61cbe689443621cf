using System.Net.Sockets;
using System.Text;
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

    /// <summary>
    /// Asked over a plain socket, so that the server's own answer is read: through a client library, a busy machine's
    /// connect timeout ends the handshake first and the error no longer says why (CI saw that on the cluster).
    /// </summary>
    [Fact]
    public async Task TheServerRefusesClientsWithoutThePassword()
    {
        var endpoint = redis.ConnectionString.Split(',')[0];
        using var client = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await client.ConnectAsync(endpoint[..endpoint.LastIndexOf(':')], int.Parse(endpoint[(endpoint.LastIndexOf(':') + 1)..]), timeout.Token);
        var stream = client.GetStream();
        await stream.WriteAsync("*2\r\n$3\r\nGET\r\n$8\r\nanything\r\n"u8.ToArray(), timeout.Token);
        var reply = await new StreamReader(stream, Encoding.ASCII).ReadLineAsync(timeout.Token);

        Assert.StartsWith("-NOAUTH", reply);
    }
}
