using System.Diagnostics;
using StackExchange.Redis;

namespace Platform.Tests.Redis;

/// <summary>
/// Moves one hash slot from the master that serves it to another master of a running <see cref="RedisClusterProcess"/>,
/// the way <c>redis-cli --cluster reshard</c> does: the target is told it imports the slot, the source that it migrates
/// it, the slot's keys are sent with <c>MIGRATE ... KEYS</c> in batches, and then every master is told the target owns
/// it (<c>CLUSTER SETSLOT NODE</c>, target and source first). Deliberately slow (small batches, a pause between them)
/// so that traffic meets each state: MOVED after the move, ASK for keys already moved, TRYAGAIN for a multi-key
/// command (a script) whose keys are split between the two nodes, or some of which do not exist yet.
/// </summary>
public sealed class SlotMigration
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(30);

    private SlotMigration(int slot, RedisServerProcess source, RedisServerProcess target)
    {
        Slot = slot;
        Source = source;
        Target = target;
    }

    public int Slot { get; }
    public RedisServerProcess Source { get; }
    public RedisServerProcess Target { get; }

    /// <summary>Keys moved, MIGRATE batches sent, and how long the slot was open (IMPORTING to the last SETSLOT NODE).</summary>
    public int KeysMoved { get; private set; }
    public int Batches { get; private set; }
    public TimeSpan Duration { get; private set; }

    /// <summary>When the last master was told the new owner (UTC).</summary>
    public DateTime FinishedAt { get; private set; }

    /// <summary>The slot of <paramref name="key"/> (its hash tag's), as the client computes it.</summary>
    public static int SlotOf(IConnectionMultiplexer connection, RedisKey key) => connection.HashSlot(key);

    /// <summary>
    /// Moves <paramref name="slot"/> to another running master (the next one after its owner, by port), sending
    /// <paramref name="batchSize"/> keys per MIGRATE and waiting <paramref name="pause"/> between batches. The slot is
    /// handed over even when <paramref name="cancellationToken"/> fires mid-way, so a test that fails never leaves the
    /// shared cluster with a slot half moved.
    /// </summary>
    public static async Task<SlotMigration> MoveAsync(RedisClusterProcess cluster, int slot, int batchSize, TimeSpan pause,
        CancellationToken cancellationToken = default)
    {
        await using var admin = await ConnectAsync(cluster);
        var masters = await MastersAsync(cluster, admin);
        var source = masters.Single(m => m.Slots.Contains(slot));
        var target = masters.OrderBy(m => m.Node.Port).SkipWhile(m => m != source).Skip(1)
            .Concat(masters.OrderBy(m => m.Node.Port)).First(m => m != source);
        var migration = new SlotMigration(slot, source.Node, target.Node);
        var clock = Stopwatch.StartNew();

        await Execute(admin, target.Node, "CLUSTER", "SETSLOT", slot, "IMPORTING", source.Id);
        await Execute(admin, source.Node, "CLUSTER", "SETSLOT", slot, "MIGRATING", target.Id);
        try
        {
            while (true)
            {
                var keys = (RedisKey[]?)await Execute(admin, source.Node, "CLUSTER", "GETKEYSINSLOT", slot, batchSize) ?? [];
                if (keys.Length == 0)
                {
                    break;
                }
                // MIGRATE host port "" 0 timeout AUTH password KEYS k...: atomic per batch on the source; a key
                // already moved is answered by ASK from now on.
                var args = new List<object> { "127.0.0.1", target.Node.Port, "", 0, (int)StepTimeout.TotalMilliseconds, "AUTH", cluster.Password, "KEYS" };
                args.AddRange(keys.Select(k => (object)k));
                await Execute(admin, source.Node, "MIGRATE", [.. args]);
                migration.KeysMoved += keys.Length;
                migration.Batches++;
                if (!cancellationToken.IsCancellationRequested)
                {
                    await Task.Delay(pause, CancellationToken.None);
                }
            }
        }
        finally
        {
            // As redis-cli does: the target first (it stops needing ASKING), then the source (it answers MOVED), then
            // every other master, so all of them agree before the new epoch spreads over the bus.
            await Execute(admin, target.Node, "CLUSTER", "SETSLOT", slot, "NODE", target.Id);
            await Execute(admin, source.Node, "CLUSTER", "SETSLOT", slot, "NODE", target.Id);
            foreach (var other in masters.Where(m => m != source && m != target))
            {
                await Execute(admin, other.Node, "CLUSTER", "SETSLOT", slot, "NODE", target.Id);
            }
            migration.Duration = clock.Elapsed;
            migration.FinishedAt = DateTime.UtcNow;
        }
        return migration;
    }

    /// <summary>
    /// Runs <paramref name="traffic"/> until its token fires: from before the move until <paramref name="after"/> past
    /// it (half a second by default, so it also meets the MOVED of the new owner). Two keys per MIGRATE, 20 ms between.
    /// </summary>
    public static async Task<SlotMigration> MoveDuringAsync(RedisClusterProcess cluster, int slot, Func<CancellationToken, Task> traffic,
        TimeSpan? after = null)
    {
        using var stop = new CancellationTokenSource();
        var running = Task.Run(() => traffic(stop.Token));
        try
        {
            await Task.Delay(200);
            var migration = await MoveAsync(cluster, slot, batchSize: 2, pause: TimeSpan.FromMilliseconds(20));
            await Task.Delay(after ?? TimeSpan.FromMilliseconds(500));
            return migration;
        }
        finally
        {
            await stop.CancelAsync();
            await running.WaitAsync(TimeSpan.FromSeconds(60));
        }
    }

    /// <summary>
    /// <paramref name="count"/> small keys under <paramref name="hashTag"/>: a slot holding only a lock's or a user's
    /// few keys moves in a blink; with these it takes seconds at two keys per batch.
    /// </summary>
    public static async Task FillAsync(IConnectionMultiplexer connection, string hashTag, int count)
    {
        var db = connection.GetDatabase();
        await Task.WhenAll(Enumerable.Range(0, count).Select(i => db.StringSetAsync($"reshard-filler:{{{hashTag}}}:{i}", i)));
    }

    public override string ToString() =>
        $"slot {Slot} moved {Source.Port} -> {Target.Port}: {KeysMoved} keys in {Batches} batches, {Duration.TotalSeconds:F1} s";

    private sealed record Master(RedisServerProcess Node, string Id, HashSet<int> Slots);

    private static async Task<List<Master>> MastersAsync(RedisClusterProcess cluster, ConnectionMultiplexer admin)
    {
        var masters = new List<Master>();
        foreach (var node in cluster.Nodes.Where(n => n.IsRunning))
        {
            var id = (string)(await Execute(admin, node, "CLUSTER", "MYID"))!;
            var nodes = (string)(await Execute(admin, node, "CLUSTER", "NODES"))!;
            // "<id> <ip:port@bus> myself,master - 0 0 <epoch> connected 0-5460 ..."
            var mine = nodes.Split('\n').Single(line => line.StartsWith(id, StringComparison.Ordinal)).Split(' ');
            if (!mine[2].Contains("master"))
            {
                continue;
            }
            var slots = new HashSet<int>();
            foreach (var range in mine.Skip(8).Where(r => r.Length > 0 && r[0] != '['))
            {
                var bounds = range.Split('-');
                var first = int.Parse(bounds[0]);
                var last = bounds.Length > 1 ? int.Parse(bounds[1]) : first;
                for (var s = first; s <= last; s++)
                {
                    slots.Add(s);
                }
            }
            masters.Add(new Master(node, id, slots));
        }
        return masters;
    }

    /// <summary>Admin commands go to one node each: a connection that knows every node but routes nothing itself.</summary>
    private static Task<ConnectionMultiplexer> ConnectAsync(RedisClusterProcess cluster) =>
        ConnectionMultiplexer.ConnectAsync($"{cluster.ConnectionString},allowAdmin=true,connectTimeout=5000,asyncTimeout=30000");

    private static async Task<RedisResult> Execute(ConnectionMultiplexer admin, RedisServerProcess node, string command, params object[] args) =>
        await admin.GetServer("127.0.0.1", node.Port).ExecuteAsync(command, args).WaitAsync(StepTimeout);
}
