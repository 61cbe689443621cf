using System.Diagnostics;
using StackExchange.Redis;

namespace Platform.Tests.Redis;

/// <summary>
/// A real Redis Cluster of our own: six redis-server nodes (three masters, three replicas) on free loopback ports,
/// each in its own directory with its own nodes.conf, one shared password, no persistence, formed by
/// <c>redis-cli --cluster create</c>. A node can be killed (SIGKILL) and started again: it rejoins from its
/// nodes.conf. Needs redis-server and redis-cli on PATH (Garnet is not a stand-in here). Shared by the tests and the
/// benchmarks.
/// </summary>
public sealed class RedisClusterProcess : IRedisDeployment
{
    /// <summary>
    /// How long a master may be silent before the others fail it over. Short, so a failover test takes seconds
    /// (Redis's default is 15 s); the same value the AppHost's cluster runtime uses.
    /// </summary>
    public const int NodeTimeoutMilliseconds = 2000;

    private static readonly TimeSpan FormTimeout = TimeSpan.FromSeconds(60);

    private RedisClusterProcess(RedisServerProcess[] nodes, string password)
    {
        Nodes = nodes;
        Password = password;
    }

    public IReadOnlyList<RedisServerProcess> Nodes { get; }
    public RedisServerKind Kind => RedisServerKind.Cluster;
    public string Password { get; }

    /// <summary>Every node, then the password: StackExchange.Redis discovers the slots and follows MOVED/ASK itself.</summary>
    public string ConnectionString => string.Join(",", Nodes.Select(n => $"127.0.0.1:{n.Port}")) + $",password={Password}";

    /// <summary>Why a cluster cannot run here, with the install command; null where it can.</summary>
    public static string? Unavailable => RedisServerProcess.IsRedisServerOnPath && FindRedisCli() is not null
        ? null
        : "Needs a Redis Cluster (six redis-server nodes formed with redis-cli) and redis-server or redis-cli is not on PATH. " +
          "Install them: sudo apt-get install redis-server (macOS: brew install redis).";

    public static async Task<RedisClusterProcess> StartNewAsync(int masters = 3, int replicasPerMaster = 1)
    {
        if (Unavailable is { } reason)
        {
            throw new InvalidOperationException(reason);
        }
        var password = RedisServerProcess.NewPassword();
        // Every port of the cluster distinct: each is a free one picked on its own, and two picks can coincide (seen
        // once: two nodes on one port, so that MasterOfAsync found two nodes serving a slot).
        var ports = new HashSet<int>();
        var picked = new List<RedisServerProcess>();
        while (picked.Count < masters * (1 + replicasPerMaster))
        {
            var node = new RedisServerProcess(RedisServerKind.RedisServer, password: password);
            if (ports.Add(node.Port))
            {
                picked.Add(node);
            }
            else
            {
                await node.DisposeAsync();
            }
        }
        var nodes = picked.ToArray();
        var cluster = new RedisClusterProcess(nodes, password);
        try
        {
            foreach (var node in nodes)
            {
                node.ExtraArguments.AddRange(
                [
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", NodeTimeoutMilliseconds.ToString(), "--masterauth", password,
                    // The bus port on its own: the default (port + 10000) is past 65535 for a port above 55535.
                    "--cluster-port", DistinctFreePort(ports).ToString(),
                ]);
            }
            await Task.WhenAll(nodes.Select(n => n.StartAsync()));
            await cluster.FormAsync(replicasPerMaster);
            await cluster.WaitUntilHealthyAsync(FormTimeout);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private static int DistinctFreePort(HashSet<int> taken)
    {
        int port;
        do
        {
            port = RedisServerProcess.FreeLoopbackPort();
        }
        while (!taken.Add(port));
        return port;
    }

    private async Task FormAsync(int replicasPerMaster)
    {
        var start = new ProcessStartInfo(FindRedisCli()!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--cluster");
        start.ArgumentList.Add("create");
        foreach (var node in Nodes)
        {
            start.ArgumentList.Add($"127.0.0.1:{node.Port}");
        }
        start.ArgumentList.Add("--cluster-replicas");
        start.ArgumentList.Add(replicasPerMaster.ToString());
        start.ArgumentList.Add("--cluster-yes");
        // The password through the environment: on the command line redis-cli warns, and ps would show it.
        start.Environment["REDISCLI_AUTH"] = Password;

        using var cli = Process.Start(start) ?? throw new InvalidOperationException("Could not start redis-cli.");
        var output = cli.StandardOutput.ReadToEndAsync();
        var errors = cli.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(FormTimeout);
        await cli.WaitForExitAsync(timeout.Token);
        if (cli.ExitCode != 0)
        {
            throw new InvalidOperationException($"redis-cli --cluster create failed ({cli.ExitCode}): {await output}{await errors}");
        }
    }

    /// <summary>
    /// Returns once every running node says <c>cluster_state:ok</c> with all 16384 slots served, and every master
    /// has a replica whose link to it is up (the state a failover needs).
    /// </summary>
    public async Task WaitUntilHealthyAsync(TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        string last = "";
        while (deadline.Elapsed < timeout)
        {
            (var healthy, last) = await CheckHealthAsync();
            if (healthy)
            {
                return;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"The cluster was not healthy within {timeout}: {last}");
    }

    private async Task<(bool Healthy, string State)> CheckHealthAsync()
    {
        var replicasUp = 0;
        foreach (var node in Nodes.Where(n => n.IsRunning))
        {
            try
            {
                await using var connection = await ConnectionMultiplexer.ConnectAsync(
                    $"127.0.0.1:{node.Port},password={Password},connectTimeout=1000,asyncTimeout=1000");
                var server = connection.GetServer("127.0.0.1", node.Port);
                var info = (string?)await server.ExecuteAsync("CLUSTER", "INFO") ?? "";
                if (!info.Contains("cluster_state:ok") || !info.Contains("cluster_slots_ok:16384"))
                {
                    return (false, $"node {node.Port}: {info.ReplaceLineEndings(" ")}");
                }
                var replication = (string?)await server.ExecuteAsync("INFO", "replication") ?? "";
                if (replication.Contains("role:slave") && replication.Contains("master_link_status:up"))
                {
                    replicasUp++;
                }
            }
            catch (RedisException e)
            {
                return (false, $"node {node.Port}: {e.Message}");
            }
        }
        var masters = Nodes.Count(n => n.IsRunning) / 2;
        return replicasUp >= masters ? (true, "ok") : (false, $"{replicasUp} replicas linked of {masters}");
    }

    /// <summary>The running node that serves <paramref name="key"/>'s slot as master now (it changes on a failover).</summary>
    public async Task<RedisServerProcess> MasterOfAsync(IConnectionMultiplexer connection, RedisKey key)
    {
        var endpoint = await connection.GetDatabase().IdentifyEndpointAsync(key)
            ?? throw new InvalidOperationException($"No node serves {key}.");
        var port = ((System.Net.IPEndPoint)endpoint).Port;
        return Nodes.Single(n => n.Port == port);
    }

    /// <summary>Every node at once, the hard way (SIGKILL): the whole of Redis gone.</summary>
    public async Task KillAsync()
    {
        foreach (var node in Nodes)
        {
            await node.KillAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }
    }

    private static string? FindRedisCli() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "redis-cli"))
            .FirstOrDefault(File.Exists);
}
