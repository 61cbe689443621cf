using System.Net.Sockets;
using StackExchange.Redis;

namespace Platform.Tests.Redis;

[Collection(RedisCollection.Name)]
public sealed class RedisServerFixtureTests(RedisServerFixture redis)
{
    [Fact]
    public async Task TheServerStoresWhatItIsGivenAndRefusesClientsWithoutThePassword()
    {
        var db = redis.Connection.GetDatabase();
        var key = $"fixture:{Guid.NewGuid():N}";
        await db.StringSetAsync(key, "hello", TimeSpan.FromSeconds(30));
        Assert.Equal("hello", (string?)await db.StringGetAsync(key));

        await using var anonymous = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Server.Port},abortConnect=false");
        var refused = await Assert.ThrowsAnyAsync<RedisException>(() => anonymous.GetDatabase().StringGetAsync(key));
        Assert.Contains("NOAUTH", refused.ToString());
    }

    [Fact]
    public async Task AServerCanBeKilledAndStartedAgainAndIsGoneAfterDispose()
    {
        var server = await RedisServerProcess.StartNewAsync();

        await server.KillAsync();
        Assert.Equal(SocketError.ConnectionRefused, await ConnectErrorAsync(server.Port));

        await server.StartAsync();
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString))
        {
            await connection.GetDatabase().StringSetAsync("restarted", "yes");
            Assert.Equal("yes", (string?)await connection.GetDatabase().StringGetAsync("restarted"));
        }

        await server.DisposeAsync();
        Assert.Equal(SocketError.ConnectionRefused, await ConnectErrorAsync(server.Port));
        Assert.False(Directory.Exists(server.Directory));
    }

    private static async Task<SocketError?> ConnectErrorAsync(int port)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync("127.0.0.1", port);
            return null;
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode;
        }
    }
}
