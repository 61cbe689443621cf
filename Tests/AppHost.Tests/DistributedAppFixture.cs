using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace AppHost.Tests;

/// <summary>
/// The whole system, started once per test collection exactly as <c>dotnet run --project AppHost</c> would start it
/// (same Redis runtime selection), with a timeout on every wait. Tests talk to it over HTTP like any client.
/// </summary>
public class DistributedAppFixture : IAsyncLifetime
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);
    public static readonly string[] Services = ["auth", "api", "notifier", "worker"];

    private DistributedApplication? _app;

    // A PostgreSQL data directory of this system's own (Database:Runtime auto picks postgres where it is on PATH): the
    // AppHost's default is one per AppHost folder, which two systems started at once (AppHost.Tests and Portal.Tests)
    // would share, and the second postgres refuses a data directory in use.
    private readonly string _databaseDirectory = Path.Combine(Path.GetTempPath(), $"apphost-db-{Guid.NewGuid():N}");

    /// <summary>The seeded admin: admin-email and admin-password chosen per run (Parameters:admin-email/-password).</summary>
    public string AdminEmail { get; } = $"ops-{Guid.NewGuid():N}@example.com";
    public string AdminPassword { get; } = $"admin-{Guid.NewGuid():N}";

    public DistributedApplication App => _app ?? throw new InvalidOperationException("The AppHost has not started.");

    public virtual async Task InitializeAsync()
    {
        using var timeout = new CancellationTokenSource(StartTimeout);
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
            [$"--Parameters:admin-email={AdminEmail}", $"--Parameters:admin-password={AdminPassword}",
                $"--Database:DataDirectory={_databaseDirectory}", .. Arguments],
            (options, _) => ConfigureOptions(options), timeout.Token);
        UseFreeGatewayPort(builder);
        Configure(builder);
        _app = await builder.BuildAsync(timeout.Token);
        await _app.StartAsync(timeout.Token);
        foreach (var resource in Services.Prepend("redis"))
        {
            await WaitHealthyAsync(resource, timeout.Token);
        }
    }

    /// <summary>Options of the AppHost (the testing builder turns the dashboard off; a fixture may turn it on).</summary>
    protected virtual void ConfigureOptions(DistributedApplicationOptions options)
    {
    }

    /// <summary>Command-line arguments for the AppHost (configuration such as <c>--Redis:Persistence=aof</c>).</summary>
    protected virtual string[] Arguments => [];

    /// <summary>
    /// Changes to the model before it starts. By default the gateway's limits are lifted: these systems test other
    /// things with bursts of requests from one address (RateLimitFixture keeps the real limits).
    /// </summary>
    protected virtual void Configure(IDistributedApplicationTestingBuilder builder)
    {
        var api = builder.CreateResourceBuilder<ProjectResource>("api");
        foreach (var tier in new[] { "anonymous", "user", "premium", "admin" })
        {
            api.WithEnvironment($"RateLimiting__Tiers__{tier}", "1000000");
        }
        api.WithEnvironment("RateLimiting__SignInAttemptsPerIp", "1000000")
            .WithEnvironment("RateLimiting__SignInAttemptsPerEmail", "1000000");
        // The simulated deployment pipeline's steps, shortened so a deployment finishes in about 2 s.
        builder.CreateResourceBuilder<ProjectResource>("worker")
            .WithEnvironment("Worker__Deployment__BuildDuration", "00:00:01")
            .WithEnvironment("Worker__Deployment__DeployDuration", "00:00:01");
    }

    /// <summary>A client of the gateway, the only way in from outside; it keeps no cookies.</summary>
    public HttpClient CreateGatewayClient() =>
        new(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = App.GetEndpoint("api", "http") };

    /// <summary>
    /// A client of the gateway whose connections leave from <paramref name="source"/> (any 127.x.y.z: all of 127/8
    /// is this machine), so that one test can be several callers, each with its own address.
    /// </summary>
    public HttpClient CreateGatewayClient(IPAddress source)
    {
        var handler = new SocketsHttpHandler
        {
            UseCookies = false,
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(source, 0));
                    await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, context.DnsEndPoint.Port), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = App.GetEndpoint("api", "http") };
    }

    /// <summary>
    /// The gateway's public port (5100 under <c>dotnet run</c>, where the AppHost does not proxy it) is a free one per
    /// run: tests never clash with a running copy or another test run on the machine.
    /// </summary>
    private static void UseFreeGatewayPort(IDistributedApplicationTestingBuilder builder)
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        builder.CreateResourceBuilder<ProjectResource>("api").WithEndpoint("http", endpoint =>
        {
            endpoint.Port = port;
            if (!endpoint.IsProxied)
            {
                endpoint.TargetPort = port;
            }
        });
    }

    public Task WaitHealthyAsync(string resource, CancellationToken cancellationToken) =>
        App.ResourceNotifications.WaitForResourceHealthyAsync(resource, cancellationToken);

    /// <summary>Runs one of the dashboard's resource commands (stop, start, restart) and checks it succeeded.</summary>
    public async Task ExecuteCommandAsync(string resource, string command)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var result = await App.Services.GetRequiredService<ResourceCommandService>()
            .ExecuteCommandAsync(resource, command, timeout.Token);
        Assert.True(result.Success, $"{command} on {resource} failed: {result.Message}");
    }

    /// <summary>
    /// After every test of the collection, Redis must never have been sent KEYS (it blocks the server while it walks
    /// every key): output-cache eviction walks its tag sets, and tests use SCAN. Garnet keeps no command statistics.
    /// </summary>
    public virtual async Task DisposeAsync()
    {
        if (_app is null)
        {
            return;
        }
        try
        {
            await using var redis = await ConnectionMultiplexer.ConnectAsync($"{await App.GetConnectionStringAsync("redis")},allowAdmin=true");
            // Every server: the one, or each node of a cluster.
            var stats = (await Task.WhenAll(redis.GetServers().Select(s => s.InfoAsync("commandstats"))))
                .SelectMany(info => info).SelectMany(g => g).ToList();
            Assert.True(stats.Count == 0 || stats.All(kv => kv.Key != "cmdstat_keys"),
                $"Redis was sent KEYS during this collection: {stats.FirstOrDefault(kv => kv.Key == "cmdstat_keys").Value}");
        }
        finally
        {
            await _app.StopAsync().WaitAsync(TimeSpan.FromMinutes(1));
            await _app.DisposeAsync();
            try
            {
                Directory.Delete(_databaseDirectory, recursive: true);
            }
            catch (IOException)
            {
                // Absent (no postgres ran), or a file still held: it is in the temp folder either way.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>
    /// Clients of each of <paramref name="replicas"/> api replicas on its own, from the address the orchestrator gave
    /// each replica (ASPNETCORE_URLS).
    /// </summary>
    protected async Task<HttpClient[]> ClientsOfEachApiReplicaAsync(int replicas)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var addresses = new Dictionary<string, Uri>();
        await foreach (var change in App.ResourceNotifications.WatchAsync(timeout.Token))
        {
            if (change.Resource.Name == "api"
                && change.Snapshot.EnvironmentVariables.FirstOrDefault(v => v.Name == "ASPNETCORE_URLS")?.Value is { Length: > 0 } urls)
            {
                addresses[change.ResourceId] = new Uri(urls.Split(';')[0]);
                if (addresses.Count == replicas)
                {
                    break;
                }
            }
        }
        return addresses.Values.Select(address => new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = address }).ToArray();
    }
}

/// <summary>Tests that only read: they share one running system.</summary>
[CollectionDefinition(Name)]
public sealed class SystemCollection : ICollectionFixture<DistributedAppFixture>
{
    public const string Name = "system";
}

/// <summary>
/// The system on a machine with only the .NET SDK: docker, podman, redis-server and postgres are hidden from PATH while
/// the AppHost starts, so <c>Redis:Runtime=auto</c> has to fall back to Garnet and <c>Database:Runtime=auto</c> to SQLite.
/// </summary>
public sealed class DotnetOnlyMachineFixture : DistributedAppFixture
{
    public override async Task InitializeAsync()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        var dotnet = Path.GetDirectoryName(Path.GetFullPath(
            Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? Environment.ProcessPath!))!;
        var hidden = new[] { "redis-server", "docker", "podman", "postgres" };
        var kept = path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Where(dir => !hidden.Any(program => File.Exists(Path.Combine(dir, program))));
        Environment.SetEnvironmentVariable("PATH", string.Join(Path.PathSeparator, kept.Prepend(dotnet)));
        try
        {
            await base.InitializeAsync();
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class DotnetOnlyCollection : ICollectionFixture<DotnetOnlyMachineFixture>
{
    public const string Name = "dotnet-only machine";
}

/// <summary>
/// The system with the gateway's real limits (anonymous 10, user 100, ...), two api replicas sharing them, a
/// window of <see cref="Window"/> so that tests can see it slide, and 3 sign-in attempts per email.
/// </summary>
public sealed class RateLimitFixture : DistributedAppFixture
{
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(20);
    public const int SignInAttemptsPerEmail = 3;
    public const int ApiReplicas = 2;

    // Replicas need the orchestrator's endpoint proxy to balance over them: here every caller is 127.0.0.1 again
    // (EdgeFixture tests per-address limits on the AppHost's unproxied endpoint).
    protected override void Configure(IDistributedApplicationTestingBuilder builder) =>
        builder.CreateResourceBuilder<ProjectResource>("api")
            .WithEndpoint("http", endpoint =>
            {
                endpoint.IsProxied = true;
                endpoint.TargetPort = null;
            })
            .WithReplicas(ApiReplicas)
            .WithEnvironment("RateLimiting__Window", Window.ToString())
            .WithEnvironment("RateLimiting__SignInAttemptsPerEmail", SignInAttemptsPerEmail.ToString());

    /// <summary>
    /// Clients of each api replica on its own (the api endpoint is the orchestrator's proxy, which balances over them).
    /// </summary>
    public Task<HttpClient[]> CreateReplicaClientsAsync() => ClientsOfEachApiReplicaAsync(ApiReplicas);

    /// <summary>Straight to auth, past the gateway and its limits: for arranging users, never for what is tested.</summary>
    public HttpClient CreateAuthClient() =>
        new(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = App.GetEndpoint("auth", "http") };
}

[CollectionDefinition(Name)]
public sealed class RateLimitCollection : ICollectionFixture<RateLimitFixture>
{
    public const string Name = "rate limits";
}

/// <summary>
/// The system as the edge sees it: the AppHost's public api endpoint unproxied (each client's own address), the real
/// limits (anonymous 10 a minute, sign-in 30 per address and 10 per account per 15 minutes), and one trusted proxy,
/// <see cref="TrustedProxy"/> (ForwardedHeaders:KnownProxies), whose X-Forwarded-For/-Proto are honoured.
/// </summary>
public sealed class EdgeFixture : DistributedAppFixture
{
    public static readonly IPAddress TrustedProxy = IPAddress.Parse("127.0.0.200");

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        builder.CreateResourceBuilder<ProjectResource>("api")
            .WithEnvironment("ForwardedHeaders__KnownProxies", TrustedProxy.ToString());
        builder.CreateResourceBuilder<ProjectResource>("worker")
            .WithEnvironment("Worker__Deployment__BuildDuration", "00:00:01")
            .WithEnvironment("Worker__Deployment__DeployDuration", "00:00:01");
    }

    /// <summary>Straight to auth, past the gateway and its limits: for arranging users, never for what is tested.</summary>
    public HttpClient CreateAuthClient() =>
        new(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = App.GetEndpoint("auth", "http") };
}

[CollectionDefinition(Name)]
public sealed class EdgeCollection : ICollectionFixture<EdgeFixture>
{
    public const string Name = "edge";
}

/// <summary>Tests that take Redis away: they get a system of their own.</summary>
[CollectionDefinition(Name)]
public sealed class OutageCollection : ICollectionFixture<DistributedAppFixture>
{
    public const string Name = "outage";
}

/// <summary>
/// The system on redis-server with the append-only file synced on every write (<c>Redis:Persistence=aof</c>), in a
/// data directory of its own, and the worker's mail sink in a temporary folder. Needs redis-server on PATH (CI
/// installs it); without it, and outside CI, <see cref="Unavailable"/> says why and the tests say so and stop.
/// </summary>
public sealed class PersistentRedisFixture : DistributedAppFixture
{
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("apphost-aof-");

    public string MailDirectory => Path.Combine(_data.FullName, "mail");
    public string? Unavailable { get; private set; }

    protected override string[] Arguments =>
        ["--Redis:Runtime=local", "--Redis:Persistence=aof", $"--Redis:DataDirectory={Path.Combine(_data.FullName, "redis")}"];

    public override async Task InitializeAsync()
    {
        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, "redis-server")));
        if (!onPath && Environment.GetEnvironmentVariable("CI") is null)
        {
            Unavailable = "redis-server is not on PATH (the append-only file needs the local runtime); install it to run this test: sudo apt-get install redis-server.";
            return;
        }
        await base.InitializeAsync();
    }

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        base.Configure(builder);
        builder.CreateResourceBuilder<ProjectResource>("worker").WithEnvironment("Worker__MailDirectory", MailDirectory);
    }

    public override async Task DisposeAsync()
    {
        try
        {
            await base.DisposeAsync();
        }
        finally
        {
            _data.Delete(recursive: true);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PersistentRedisCollection : ICollectionFixture<PersistentRedisFixture>
{
    public const string Name = "persistent redis";
}
