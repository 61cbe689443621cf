using StackExchange.Redis;

namespace Platform.Tests.Redis;

/// <summary>
/// One real redis-server for a test collection, and one multiplexer to it. Building-block tests use
/// <see cref="Connection"/>; tests that need more connections or an outage use <see cref="Server"/>.
/// </summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    private RedisServerProcess? _server;
    private ConnectionMultiplexer? _connection;

    public RedisServerProcess Server => _server ?? throw new InvalidOperationException("The fixture has not started.");
    public IConnectionMultiplexer Connection => _connection ?? throw new InvalidOperationException("The fixture has not started.");

    public async Task InitializeAsync()
    {
        _server = await RedisServerProcess.StartNewAsync();
        _connection = await ConnectAsync();
    }

    /// <summary>A new, separate connection (its own sockets) to the fixture's server.</summary>
    public Task<ConnectionMultiplexer> ConnectAsync() => ConnectionMultiplexer.ConnectAsync(Server.ConnectionString);

    public async Task DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisServerFixture>
{
    public const string Name = "redis-server";
}
