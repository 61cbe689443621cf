using System.Diagnostics;
using StackExchange.Redis;

namespace Platform.Tests.Redis;

/// <summary>
/// A failover the hard way, of the master that serves one key's slot: SIGKILL it, wait until its replica says it is
/// master (promoted by the other masters' vote), then start the killed node again, as a supervisor would: it rejoins
/// from its nodes.conf and becomes the new master's replica. Started before the promotion, an empty master (no
/// persistence) would come back still owning the slot and the slot's data would be gone.
/// </summary>
public sealed class ClusterFailover
{
    private readonly Stopwatch _clock = new();

    private readonly IServer _masterServer;

    private ClusterFailover(RedisServerProcess master, IServer masterServer, IServer replica) =>
        (Master, _masterServer, Replica) = (master, masterServer, replica);

    public RedisServerProcess Master { get; }
    public IServer Replica { get; }

    /// <summary>Kill to promotion, once seen.</summary>
    public TimeSpan? Promotion { get; private set; }

    /// <summary>
    /// Just before the kill: whether the node was still master (a loaded machine can fail it over before), and how
    /// far its replica had got in its replication stream (master_repl_offset, then the replica's slave_repl_offset).
    /// </summary>
    public string StateAtKill { get; private set; } = "";

    /// <summary>Since the kill.</summary>
    public TimeSpan SinceKill => _clock.Elapsed;

    public static async Task<ClusterFailover> OfMasterServingAsync(RedisClusterProcess cluster, IConnectionMultiplexer connection, RedisKey key)
    {
        var master = await cluster.MasterOfAsync(connection, key);
        return new ClusterFailover(master, connection.GetServer("127.0.0.1", master.Port), await ReplicaOfAsync(connection, master.Port));
    }

    public async Task KillAsync()
    {
        try
        {
            var master = Offsets((string?)await _masterServer.ExecuteAsync("INFO", "replication"));
            var replica = Offsets((string?)await Replica.ExecuteAsync("INFO", "replication"));
            StateAtKill = $"{master.Role} at replication offset {master.MasterOffset}; its replica {replica.Role}, link {replica.Link}, " +
                          $"at offset {replica.ReplicaOffset} (read just after)";
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            StateAtKill = $"unknown: {e.Message}";
        }
        await Master.KillAsync();
        _clock.Start();
    }

    /// <summary>True once the replica is master; the first time it is, the killed node is started again.</summary>
    public async Task<bool> PromotedAsync()
    {
        if (Promotion is not null)
        {
            return true;
        }
        if (!await IsMasterAsync(Replica))
        {
            return false;
        }
        Promotion = _clock.Elapsed;
        await Master.StartAsync();
        return true;
    }

    /// <summary>
    /// The killed node's role now: "slave" once it rejoined under the promoted replica; "master" would mean it came back
    /// as the (empty) master of its slots and its replica resynced from it: every key of those slots gone.
    /// </summary>
    public async Task<string> RoleOfKilledNodeAsync()
    {
        try
        {
            return ((RedisResult[])(await _masterServer.ExecuteAsync("ROLE"))!)[0].ToString();
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return $"unknown: {e.Message}";
        }
    }

    /// <summary>Waits (polling every 50 ms) for the promotion and the restart of the killed node.</summary>
    public async Task WaitForPromotionAsync(TimeSpan timeout)
    {
        while (!await PromotedAsync())
        {
            if (_clock.Elapsed > timeout)
            {
                throw new TimeoutException($"The replica of the master on port {Master.Port} was not promoted within {timeout}.");
            }
            await Task.Delay(50);
        }
    }

    private static (string Role, string Link, long MasterOffset, long ReplicaOffset) Offsets(string? info)
    {
        var fields = (info ?? "").Split('\n', StringSplitOptions.TrimEntries).Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1]);
        long Number(string name) => fields.TryGetValue(name, out var v) && long.TryParse(v, out var n) ? n : -1;
        return (fields.GetValueOrDefault("role", "?"), fields.GetValueOrDefault("master_link_status", "-"),
            Number("master_repl_offset"), Number("slave_repl_offset"));
    }

    /// <summary>The replica of the master on <paramref name="masterPort"/> (ROLE: slave, its master's address and port, ...).</summary>
    private static async Task<IServer> ReplicaOfAsync(IConnectionMultiplexer connection, int masterPort)
    {
        foreach (var server in connection.GetServers().Where(s => s.IsReplica))
        {
            var role = (RedisResult[])(await server.ExecuteAsync("ROLE"))!;
            if ((long)role[2] == masterPort)
            {
                return server;
            }
        }
        throw new InvalidOperationException($"No replica of the master on port {masterPort}.");
    }

    private static async Task<bool> IsMasterAsync(IServer server)
    {
        try
        {
            return ((RedisResult[])(await server.ExecuteAsync("ROLE"))!)[0].ToString() == "master";
        }
        catch (RedisException)
        {
            return false;
        }
    }
}
