using System.Diagnostics;
using System.Reflection;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using StackExchange.Redis;

namespace Platform.Tests.Redis;

/// <summary>Which server speaks the Redis protocol in a test or benchmark.</summary>
public enum RedisServerKind
{
    /// <summary><c>redis-server</c> from PATH (Debian's is 7.0).</summary>
    RedisServer,

    /// <summary>Microsoft Garnet, the <c>garnet-server</c> tool run with <c>dotnet tool exec</c>: needs only the .NET SDK.</summary>
    Garnet,

    /// <summary>Six redis-server nodes formed into a Redis Cluster: <see cref="RedisClusterProcess"/>, never this class.</summary>
    Cluster,
}

/// <summary>A server or a cluster of our own, which a test can take away (SIGKILL) from the code under test.</summary>
public interface IRedisDeployment : IAsyncDisposable
{
    /// <summary>The StackExchange.Redis connection string, in the shape Aspire hands to services.</summary>
    string ConnectionString { get; }

    RedisServerKind Kind { get; }

    Task KillAsync();
}

/// <summary>
/// A real server of our own: a free loopback port, a fresh temp directory, a random password, no persistence.
/// It can be killed and started again on the same port and password, so tests can take Redis away from the
/// code under test and give it back. Shared by the tests and the benchmarks.
/// </summary>
public sealed class RedisServerProcess : IRedisDeployment
{
    // The first Garnet start may download the tool into the NuGet cache.
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);
    private Process? _process;

    /// <remarks>
    /// Asked for redis-server on a machine without one, it runs Garnet instead and says so on stderr, so that
    /// <c>dotnet test</c> works with the .NET SDK alone. Under CI (<c>CI=true</c>) it refuses: CI must test Redis.
    /// </remarks>
    /// <param name="appendOnly">
    /// redis-server only: persist every write to the append-only file, fsynced before the reply
    /// (<c>appendfsync always</c>), so a restart after SIGKILL loses nothing that was acknowledged.
    /// </param>
    /// <param name="password">The password to require; a random one when null (a cluster's nodes share one).</param>
    public RedisServerProcess(RedisServerKind kind = RedisServerKind.RedisServer, bool appendOnly = false, string? password = null)
    {
        if (kind == RedisServerKind.Cluster)
        {
            throw new ArgumentException("A cluster is six processes: start a RedisClusterProcess.", nameof(kind));
        }
        var redisServer = FindRedisServer();
        if (kind == RedisServerKind.RedisServer && redisServer is null)
        {
            if (UnderCi)
            {
                throw new InvalidOperationException(
                    "CI must test on redis-server and none is on PATH: .ci/run installs it (apt-get install redis-server).");
            }
            Console.Error.WriteLine("redis-server is not on PATH: these tests run on Garnet instead. " +
                "Install redis-server (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) to test on Redis.");
            kind = RedisServerKind.Garnet;
        }
        Kind = kind;
        if (appendOnly && kind != RedisServerKind.RedisServer)
        {
            throw new NotSupportedException("Append-only persistence is tested on redis-server only (Garnet 2.2.8's --aof failed on writes).");
        }
        AppendOnly = appendOnly;
        Executable = kind == RedisServerKind.RedisServer ? redisServer! : FindDotnet();
        Port = FreeLoopbackPort();
        Password = password ?? NewPassword();
        Directory = System.IO.Directory.CreateTempSubdirectory("redis-test-").FullName;
    }

    public RedisServerKind Kind { get; }
    public bool AppendOnly { get; }
    public string Executable { get; }
    public int Port { get; }
    public string Password { get; }
    public string Directory { get; }
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>redis-server only: more arguments for the next start, e.g. a hidden test setting such as <c>--key-load-delay</c>.</summary>
    public List<string> ExtraArguments { get; } = [];

    /// <summary>The StackExchange.Redis connection string, in the shape Aspire hands to services.</summary>
    public string ConnectionString => $"127.0.0.1:{Port},password={Password}";

    /// <summary>32 hex digits: no character StackExchange.Redis's connection string would split on.</summary>
    public static string NewPassword() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    public static async Task<RedisServerProcess> StartNewAsync(RedisServerKind kind = RedisServerKind.RedisServer, bool appendOnly = false)
    {
        var server = new RedisServerProcess(kind, appendOnly);
        try
        {
            await server.StartAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Starts the server and returns once it answers an authenticated PING; with <paramref name="waitForDataset"/>
    /// false, as soon as it answers at all, LOADING included (a test of what clients see while it reads its data).
    /// </summary>
    public async Task StartAsync(bool waitForDataset = true)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"{Kind} is already running on port {Port}.");
        }

        var start = new ProcessStartInfo(Executable)
        {
            WorkingDirectory = Directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in Arguments())
        {
            start.ArgumentList.Add(arg);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {Executable}.");
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await WaitUntilAnsweringAsync(waitForDataset);
    }

    private string[] Arguments() => Kind == RedisServerKind.RedisServer
        ?
        [
            "--port", Port.ToString(), "--bind", "127.0.0.1", "--requirepass", Password,
            "--save", "", "--dir", Directory,
            "--appendonly", AppendOnly ? "yes" : "no", "--appendfsync", "always",
            .. ExtraArguments,
        ]
        :
        [
            "tool", "exec", $"garnet-server@{GarnetVersion}", "--yes", "--",
            "--port", Port.ToString(), "--bind", "127.0.0.1", "--auth", "Password", "--password", Password,
            // Lua on, and each script run as a transaction over its KEYS: without it Garnet interleaves a
            // script's commands with other clients' (Redis never does; ServerConformanceTests shows it).
            "--lua", "--lua-transaction-mode",
        ];

    /// <summary>The garnet-server version, from Directory.Build.props (GarnetServerVersion).</summary>
    private static string GarnetVersion => typeof(RedisServerProcess).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "GarnetServerVersion").Value!;

    /// <summary>Stops the server the hard way (SIGKILL), as a crash or an outage would.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        _process?.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A temp directory left behind is harmless; failing a test run over it is not.
        }
    }

    private async Task WaitUntilAnsweringAsync(bool waitForDataset)
    {
        // Poll the port with plain sockets (cheap, fails in microseconds) until the server listens, then
        // prove it answers an authenticated command.
        var deadline = Stopwatch.StartNew();
        while (!await AcceptsConnectionsAsync())
        {
            if (_process!.HasExited)
            {
                throw new InvalidOperationException($"{Kind} exited with code {_process.ExitCode} on port {Port}.");
            }
            if (deadline.Elapsed > StartTimeout)
            {
                throw new TimeoutException($"{Kind} did not listen on port {Port} within {StartTimeout}.");
            }
            await Task.Delay(20);
        }
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"{ConnectionString},abortConnect=true");
        while (true)
        {
            try
            {
                await connection.GetDatabase().PingAsync();
                return;
            }
            catch (RedisServerException e) when (e.Message.StartsWith("LOADING", StringComparison.Ordinal) && !waitForDataset)
            {
                return;
            }
            catch (RedisServerException e) when (e.Message.StartsWith("LOADING", StringComparison.Ordinal) && deadline.Elapsed < StartTimeout)
            {
                await Task.Delay(20); // restarted with an append-only file: answering, but still reading it
            }
        }
    }

    private async Task<bool> AcceptsConnectionsAsync()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, Port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string FindDotnet() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
        : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self
        : "dotnet";

    /// <summary>Whether a redis-server is on PATH (where it is not, tests asking for one run on Garnet, or skip).</summary>
    public static bool IsRedisServerOnPath => FindRedisServer() is not null;

    /// <summary>Under CI (<c>CI=true</c>) nothing redis-server can run may be skipped or moved to Garnet.</summary>
    public static bool UnderCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    private static string? FindRedisServer() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "redis-server"))
            .FirstOrDefault(File.Exists);

    public static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
