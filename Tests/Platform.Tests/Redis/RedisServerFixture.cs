using StackExchange.Redis;

namespace Platform.Tests.Redis;

/// <summary>
/// One real server for a test collection, and one multiplexer to it. Building-block tests use
/// <see cref="Connection"/> and <see cref="ConnectionString"/>; tests that need an outage of a single server use
/// <see cref="Server"/>. This one is redis-server; <see cref="GarnetServerFixture"/> is the same on Garnet and
/// <see cref="RedisClusterFixture"/> on a six-node Redis Cluster.
/// </summary>
public class RedisServerFixture : IAsyncLifetime
{
    private RedisServerProcess? _server;
    private RedisClusterProcess? _cluster;
    private ConnectionMultiplexer? _connection;

    public RedisServerFixture() : this(RedisServerKind.RedisServer)
    {
    }

    protected RedisServerFixture(RedisServerKind kind) => Kind = kind;

    public RedisServerKind Kind { get; }

    /// <summary>The single server; a cluster has none (use <see cref="ConnectionString"/>, or <see cref="Cluster"/>).</summary>
    public RedisServerProcess Server => _server ?? throw new InvalidOperationException(
        Kind == RedisServerKind.Cluster ? "A cluster fixture has no single server." : "The fixture has not started.");

    public RedisClusterProcess Cluster => _cluster ?? throw new InvalidOperationException("This fixture is not a cluster, or has not started.");

    public IConnectionMultiplexer Connection => _connection ?? throw new InvalidOperationException("The fixture has not started.");

    /// <summary>The StackExchange.Redis connection string, in the shape Aspire hands to services (every node, for a cluster).</summary>
    public string ConnectionString => _cluster?.ConnectionString ?? Server.ConnectionString;

    public async Task InitializeAsync()
    {
        if (Kind == RedisServerKind.Cluster)
        {
            // Where a cluster cannot run, every test bound to it is reported skipped (NeedsRedisClusterAttribute);
            // under CI it must run, so starting it fails loudly with the reason instead.
            if (RedisClusterProcess.Unavailable is not null && !RedisServerProcess.UnderCi)
            {
                return;
            }
            _cluster = await RedisClusterProcess.StartNewAsync();
        }
        else
        {
            _server = await RedisServerProcess.StartNewAsync(Kind);
        }
        _connection = await ConnectAsync();
    }

    /// <summary>A new, separate connection (its own sockets) to the fixture's server or cluster.</summary>
    public Task<ConnectionMultiplexer> ConnectAsync(string options = "") =>
        ConnectionMultiplexer.ConnectAsync($"{ConnectionString}{options}");

    /// <summary>A second server or cluster of this fixture's kind, the test's own (to kill, for instance).</summary>
    public async Task<IRedisDeployment> StartAnotherAsync() => Kind == RedisServerKind.Cluster
        ? await RedisClusterProcess.StartNewAsync()
        : await RedisServerProcess.StartNewAsync(Kind);

    /// <summary><paramref name="count"/> separate connections, as that many app instances would have; dispose them all at once.</summary>
    public async Task<Connections> ConnectManyAsync(int count) =>
        new(await Task.WhenAll(Enumerable.Range(0, count).Select(_ => ConnectAsync())));

    /// <summary>Every server that holds data now: the one server, or the cluster's masters.</summary>
    public static IServer[] Masters(IConnectionMultiplexer connection) =>
        connection.GetServers().Where(s => s.IsConnected && !s.IsReplica).ToArray();

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
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
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

/// <summary>The same fixture on a six-node Redis Cluster (three masters, three replicas).</summary>
public sealed class RedisClusterFixture : RedisServerFixture
{
    public RedisClusterFixture() : base(RedisServerKind.Cluster)
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

/// <summary>Bind a suite here with <see cref="NeedsRedisClusterAttribute"/> beside the collection.</summary>
[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<RedisClusterFixture>
{
    public const string Name = "redis-cluster";
}
