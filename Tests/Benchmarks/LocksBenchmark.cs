using System.Diagnostics;
using Platform.Tests;
using Benchmarks.Harness;
using Microsoft.Extensions.Logging.Abstractions;
using Platform.Locking;
using PeerLock = Medallion.Threading.Redis.RedisDistributedLock;

namespace Benchmarks;

/// <summary>
/// Lock acquire+release pairs beside DistributedLock.Redis (the peer), in alternating rounds of the same run:
/// uncontended (every caller its own lock name, the same names for both) at 16 and 64 callers, without and with a
/// fencing token, and 16 contenders on one name, with fairness (each contender's worst wait, busiest/idlest contender).
/// </summary>
public static class LocksBenchmark
{
    public const string Name = "locks";
    private static readonly int[] Concurrency = [16, 64];
    private const int Contenders = 16;

    public static async Task RunAsync(BenchmarkContext context)
    {
        var locks = new RedisDistributedLock(context.Redis, TestMeters.Factory, NullLogger<RedisDistributedLock>.Instance);
        var lease = TimeSpan.FromSeconds(10);
        var db = context.Redis.GetDatabase();

        var peerLocks = new System.Collections.Concurrent.ConcurrentDictionary<string, PeerLock>();
        PeerLock Peer(string name) => peerLocks.GetOrAdd(name, _ => new PeerLock($"peer:{name}", db, options => options.Expiry(lease)));

        var table = await PeerComparison.MeasureAsync(context, Concurrency,
            new Candidate("peer: DistributedLock.Redis 1.1.1", async caller =>
            {
                await using var handle = await Peer($"bench-{caller}").TryAcquireAsync()
                    ?? throw new InvalidOperationException("an uncontended lock was refused");
            }, TopLevelCommands: ["set"]),
            new Candidate("ours: acquire + release", async caller =>
            {
                await using var handle = await locks.TryAcquireAsync($"bench-{caller}", lease, TimeSpan.Zero)
                    ?? throw new InvalidOperationException("an uncontended lock was refused");
            }, TopLevelCommands: ["set"]),
            // The peer has no fencing tokens: this row is what ours costs when the holder asks for one.
            new Candidate("ours: acquire + fencing token + release", async caller =>
            {
                await using var handle = await locks.TryAcquireAsync($"bench-{caller}", lease, TimeSpan.Zero)
                    ?? throw new InvalidOperationException("an uncontended lock was refused");
                await handle.GetFencingTokenAsync();
            }, TopLevelCommands: ["set"]));
        context.Print($"## {Name}: uncontended pairs (one name per caller)", table);

        var peerContended = Peer("bench-contended");
        var contenders = new (string Name, Func<Task<bool>> Pair)[]
        {
            ("peer: DistributedLock.Redis 1.1.1", async () =>
            {
                await using var handle = await peerContended.TryAcquireAsync(TimeSpan.FromSeconds(30));
                return handle is not null;
            }),
            ("ours: acquire (waiting) + release", async () =>
            {
                await using var handle = await locks.TryAcquireAsync("bench-contended", lease, TimeSpan.FromSeconds(30));
                return handle is not null;
            }),
        };
        var contention = new MarkdownTable("implementation", "contenders", "pairs/s", "x peer", "p50 µs", "p99 µs",
            "worst wait ms", "busiest/idlest", "server commands/pair", "server µs/pair");
        var results = contenders.Select(_ => new List<ContentionResult>()).ToArray();
        for (var round = 0; round < PeerComparison.Rounds; round++)
        {
            for (var i = 0; i < contenders.Length; i++)
            {
                var warmup = round == 0 ? context.Warmup : TimeSpan.Zero;
                results[i].Add(await ContentionResult.RunAsync(context, Contenders, context.Duration / PeerComparison.Rounds,
                    warmup, contenders[i].Pair, i == 0 ? ["set"] : null));
            }
        }
        var peerRate = results[0].Sum(r => r.Pairs) / results[0].Sum(r => r.Elapsed.TotalSeconds);
        for (var i = 0; i < contenders.Length; i++)
        {
            var r = results[i];
            var rate = r.Sum(x => x.Pairs) / r.Sum(x => x.Elapsed.TotalSeconds);
            contention.Add(contenders[i].Name, Contenders, rate, rate / peerRate, r.Average(x => x.P50Micros), r.Max(x => x.P99Micros),
                r.Max(x => x.WorstWaitMs), r.Max(x => x.BusiestOverIdlest), r.Average(x => x.ServerCommandsPerPair),
                r.Average(x => x.ServerMicrosPerPair));
        }
        context.Print($"## {Name}: {Contenders} contenders on one name ({PeerComparison.Rounds} alternating rounds; worst of the rounds)", contention);
    }
}

/// <summary>One round of contenders on one lock: pairs, latency, fairness, and what a pair cost the server.</summary>
internal sealed record ContentionResult(long Pairs, TimeSpan Elapsed, double P50Micros, double P99Micros, double WorstWaitMs,
    double BusiestOverIdlest, double ServerCommandsPerPair, double ServerMicrosPerPair)
{
    public static async Task<ContentionResult> RunAsync(BenchmarkContext context, int contenders, TimeSpan duration, TimeSpan warmup,
        Func<Task<bool>> pair, string[]? topLevelCommands)
    {
        if (warmup > TimeSpan.Zero)
        {
            await RunContendersAsync(contenders, warmup, pair);
        }
        List<long>[] latencies = [];
        var elapsed = TimeSpan.Zero;
        var cost = await CommandCost.MeasureTotalAsync(context.Redis, 1, async () =>
        {
            var started = Stopwatch.GetTimestamp();
            latencies = await RunContendersAsync(contenders, duration, pair);
            elapsed = Stopwatch.GetElapsedTime(started);
        }, topLevelCommands);
        var all = latencies.SelectMany(l => l).Order().ToArray();
        var pairs = all.Length;
        double Micros(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;
        double Percentile(double p) => pairs == 0 ? 0 : Micros(all[Math.Min(pairs - 1, (int)(p * pairs))]);
        return new ContentionResult(pairs, elapsed, Percentile(0.5), Percentile(0.99),
            pairs == 0 ? 0 : Micros(all[^1]) / 1000,
            latencies.Max(l => l.Count) / (double)Math.Max(1, latencies.Min(l => l.Count)),
            cost.ServerCommands / Math.Max(1, pairs), cost.ServerMicros / Math.Max(1, pairs));
    }

    private static async Task<List<long>[]> RunContendersAsync(int contenders, TimeSpan duration, Func<Task<bool>> pair)
    {
        var stopAt = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        return await Task.WhenAll(Enumerable.Range(0, contenders).Select(_ => Task.Run(async () =>
        {
            var latencies = new List<long>();
            while (Stopwatch.GetTimestamp() < stopAt)
            {
                var start = Stopwatch.GetTimestamp();
                if (await pair())
                {
                    latencies.Add(Stopwatch.GetTimestamp() - start);
                }
            }
            return latencies;
        })));
    }
}
