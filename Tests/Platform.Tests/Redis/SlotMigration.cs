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
public sealed class SlotMigration : IAsyncDisposable
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(30);

    private readonly RedisClusterProcess _cluster;
    private readonly ConnectionMultiplexer _admin;
    private readonly List<Master> _masters;
    private readonly Master _source;
    private readonly Master _target;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private bool _finished;

    private SlotMigration(RedisClusterProcess cluster, ConnectionMultiplexer admin, List<Master> masters, int slot, Master source, Master target)
    {
        _cluster = cluster;
        _admin = admin;
        _masters = masters;
        Slot = slot;
        _source = source;
        _target = target;
    }

    public int Slot { get; }
    public RedisServerProcess Source => _source.Node;
    public RedisServerProcess Target => _target.Node;

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
    /// handed over even when sending keys fails mid-way (<see cref="DisposeAsync"/>), so a failing test never leaves the
    /// shared cluster with a slot half moved.
    /// </summary>
    public static async Task<SlotMigration> MoveAsync(RedisClusterProcess cluster, int slot, int batchSize, TimeSpan pause)
    {
        await using var migration = await BeginAsync(cluster, slot);
        while (await migration.MigrateNextAsync(batchSize) > 0)
        {
            await Task.Delay(pause);
        }
        await migration.FinishAsync();
        return migration;
    }

    /// <summary>
    /// Opens the move of <paramref name="slot"/>: the target IMPORTING, the source MIGRATING, no key sent yet. Send keys
    /// with <see cref="MigrateAsync"/>, close it with <see cref="FinishAsync"/> (which <see cref="DisposeAsync"/> also does).
    /// </summary>
    public static async Task<SlotMigration> BeginAsync(RedisClusterProcess cluster, int slot)
    {
        var admin = await ConnectionMultiplexer.ConnectAsync(
            $"{cluster.ConnectionString},allowAdmin=true,connectTimeout=5000,asyncTimeout={(int)StepTimeout.TotalMilliseconds}");
        var masters = await MastersAsync(cluster, admin);
        var source = masters.Single(m => m.Slots.Contains(slot));
        var target = masters.OrderBy(m => m.Node.Port).SkipWhile(m => m != source).Skip(1)
            .Concat(masters.OrderBy(m => m.Node.Port)).First(m => m != source);
        var migration = new SlotMigration(cluster, admin, masters, slot, source, target);
        await migration.Execute(target.Node, "CLUSTER", "SETSLOT", slot, "IMPORTING", source.Id);
        await migration.Execute(source.Node, "CLUSTER", "SETSLOT", slot, "MIGRATING", target.Id);
        return migration;
    }

    /// <summary>The keys of the slot still on the source, at most <paramref name="count"/>.</summary>
    public async Task<RedisKey[]> KeysLeftAsync(int count) =>
        (RedisKey[]?)await Execute(_source.Node, "CLUSTER", "GETKEYSINSLOT", Slot, count) ?? [];

    /// <summary>Sends the next <paramref name="batchSize"/> keys of the slot; returns how many were left to send.</summary>
    public async Task<int> MigrateNextAsync(int batchSize)
    {
        var keys = await KeysLeftAsync(batchSize);
        if (keys.Length > 0)
        {
            await MigrateAsync(keys);
        }
        return keys.Length;
    }

    /// <summary>
    /// One MIGRATE of <paramref name="keys"/> (<c>MIGRATE host port "" 0 timeout AUTH password KEYS k...</c>): atomic on
    /// the source; each key moved is answered there with ASK from now on.
    /// </summary>
    public async Task MigrateAsync(params RedisKey[] keys)
    {
        var args = new List<object> { "127.0.0.1", _target.Node.Port, "", 0, (int)StepTimeout.TotalMilliseconds, "AUTH", _cluster.Password, "KEYS" };
        args.AddRange(keys.Select(k => (object)k));
        await Execute(_source.Node, "MIGRATE", [.. args]);
        KeysMoved += keys.Length;
        Batches++;
    }

    /// <summary>
    /// Sends the keys left, then tells every master the target owns the slot, as redis-cli does: the target first (it
    /// stops needing ASKING), then the source (it answers MOVED), then the others. Once only.
    /// </summary>
    public async Task FinishAsync()
    {
        if (_finished)
        {
            return;
        }
        _finished = true;
        try
        {
            while (await MigrateNextAsync(100) > 0)
            {
            }
        }
        finally
        {
            await Execute(_target.Node, "CLUSTER", "SETSLOT", Slot, "NODE", _target.Id);
            await Execute(_source.Node, "CLUSTER", "SETSLOT", Slot, "NODE", _target.Id);
            foreach (var other in _masters.Where(m => m != _source && m != _target))
            {
                await Execute(other.Node, "CLUSTER", "SETSLOT", Slot, "NODE", _target.Id);
            }
            Duration = _clock.Elapsed;
            FinishedAt = DateTime.UtcNow;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await FinishAsync();
        }
        finally
        {
            await _admin.DisposeAsync();
        }
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

    /// <summary>Admin commands go to one node each, never routed by key.</summary>
    private Task<RedisResult> Execute(RedisServerProcess node, string command, params object[] args) => Execute(_admin, node, command, args);

    private static async Task<RedisResult> Execute(ConnectionMultiplexer admin, RedisServerProcess node, string command, params object[] args) =>
        await admin.GetServer("127.0.0.1", node.Port).ExecuteAsync(command, args).WaitAsync(StepTimeout);
}
