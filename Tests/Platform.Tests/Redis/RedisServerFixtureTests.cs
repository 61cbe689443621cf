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

        Assert.StartsWith("-NOAUTH", await SendWithoutPasswordAsync(redis.Server.Port, $"GET {key}"));
    }

    /// <summary>
    /// One command over a bare socket, as any client that skips AUTH would send it; returns the reply line. Sent as a
    /// RESP array: Garnet does not answer Redis's inline form ("GET key") at all.
    /// </summary>
    private static async Task<string> SendWithoutPasswordAsync(int port, string command)
    {
        var parts = command.Split(' ');
        var resp = $"*{parts.Length}\r\n" + string.Concat(parts.Select(p => $"${p.Length}\r\n{p}\r\n"));
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        await using var stream = client.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(resp));
        using var reader = new StreamReader(stream);
        return await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(5)) ?? "";
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
