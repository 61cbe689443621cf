using StackExchange.Redis;

namespace Platform.Tests.Redis;

/// <summary>
/// One real server for a test collection, and one multiplexer to it. Building-block tests use
/// <see cref="Connection"/>; tests that need more connections or an outage use <see cref="Server"/>.
/// This one is redis-server; <see cref="GarnetServerFixture"/> is the same on Garnet.
/// </summary>
public class RedisServerFixture : IAsyncLifetime
{
    private RedisServerProcess? _server;

    public RedisServerFixture() : this(RedisServerKind.RedisServer)
    {
    }

    protected RedisServerFixture(RedisServerKind kind) => Kind = kind;

    public RedisServerKind Kind { get; }
    private ConnectionMultiplexer? _connection;

    public RedisServerProcess Server => _server ?? throw new InvalidOperationException("The fixture has not started.");
    public IConnectionMultiplexer Connection => _connection ?? throw new InvalidOperationException("The fixture has not started.");

    public async Task InitializeAsync()
    {
        _server = await RedisServerProcess.StartNewAsync(Kind);
        _connection = await ConnectAsync();
    }

    /// <summary>A new, separate connection (its own sockets) to the fixture's server.</summary>
    public Task<ConnectionMultiplexer> ConnectAsync(string options = "") =>
        ConnectionMultiplexer.ConnectAsync($"{Server.ConnectionString}{options}");

    /// <summary><paramref name="count"/> separate connections, as that many app instances would have; dispose them all at once.</summary>
    public async Task<Connections> ConnectManyAsync(int count) =>
        new(await Task.WhenAll(Enumerable.Range(0, count).Select(_ => ConnectAsync())));

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

/// <summary>Several connections to one server, disposed together.</summary>
public sealed class Connections(ConnectionMultiplexer[] all) : IAsyncDisposable
{
    public ConnectionMultiplexer this[int i] => all[i % all.Length];
    public IEnumerable<T> Select<T>(Func<ConnectionMultiplexer, T> map) => all.Select(map);

    public async ValueTask DisposeAsync()
    {
        foreach (var connection in all)
        {
            await connection.DisposeAsync();
        }
    }
}

/// <summary>The same fixture on Garnet: every building-block test runs on both servers.</summary>
public sealed class GarnetServerFixture : RedisServerFixture
{
    public GarnetServerFixture() : base(RedisServerKind.Garnet)
    {
    }
}

[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisServerFixture>
{
    public const string Name = "redis-server";
}

[CollectionDefinition(Name)]
public sealed class GarnetCollection : ICollectionFixture<GarnetServerFixture>
{
    public const string Name = "garnet";
}
