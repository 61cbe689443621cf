using System.Collections.Concurrent;
using Benchmarks.Harness;
using Platform.RateLimiting;
using RedisRateLimiting;
using StackExchange.Redis;

namespace Benchmarks;

/// <summary>
/// Rate-limit decisions: ours (one script) beside RedisRateLimiting 1.2.1 (the peer) for the same partitions in
/// alternating rounds; and, for the burst table, the textbook versions written here: a fixed window as INCR then EXPIRE (two calls; a crash between them leaves a counter that never expires)
/// and a sliding window as ZREMRANGEBYSCORE, ZCARD, ZADD, EXPIRE in separate calls (a burst slips through between
/// the count and the add).
/// </summary>
public static class RateLimitBenchmark
{
    public const string Name = "rate-limit";
    private static readonly int[] Concurrency = [16, 64];
    private const int Partitions = 1000;
    private const int Limit = 100;
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    public static async Task RunAsync(BenchmarkContext context)
    {
        var store = new RedisRateLimitStore(context.Redis);
        var db = context.Redis.GetDatabase();
        var sliding = new RateLimitRule("bench-sliding", Limit, Window);
        var fixedWindow = new RateLimitRule("bench-fixed", Limit, Window, RateLimitAlgorithm.FixedWindow);

        // Each candidate counts its own callers, so no one starts on another's full windows.
        Func<int, Task> Cycle(Func<string, Task> decide)
        {
            var (next, run) = (0, Guid.NewGuid().ToString("N")[..8]);
            return _ => decide($"{run}:caller{Interlocked.Increment(ref next) % Partitions}");
        }

        // The peer's limiter is one object per partition (what its ASP.NET Core partitioned limiter builds).
        var peerSliding = new ConcurrentDictionary<string, RedisSlidingWindowRateLimiter<string>>();
        var peerFixed = new ConcurrentDictionary<string, RedisFixedWindowRateLimiter<string>>();
        async Task PeerAsync<TLimiter>(ConcurrentDictionary<string, TLimiter> limiters, string partition, Func<string, TLimiter> create)
            where TLimiter : System.Threading.RateLimiting.RateLimiter
        {
            using var lease = await limiters.GetOrAdd(partition, create).AcquireAsync(1);
        }

        foreach (var (label, peer, ours) in new (string, Candidate, Candidate)[]
        {
            ("sliding window", new Candidate("peer: RedisRateLimiting sliding window", Cycle(p => PeerAsync(peerSliding, p, key =>
                new RedisSlidingWindowRateLimiter<string>(key, new RedisSlidingWindowRateLimiterOptions
                {
                    PermitLimit = Limit, Window = Window, ConnectionMultiplexerFactory = () => context.Redis,
                })))),
                new Candidate("ours: sliding window (exact)", Cycle(p => store.DecideAsync(p, sliding)))),
            ("fixed window", new Candidate("peer: RedisRateLimiting fixed window", Cycle(p => PeerAsync(peerFixed, p, key =>
                new RedisFixedWindowRateLimiter<string>(key, new RedisFixedWindowRateLimiterOptions
                {
                    PermitLimit = Limit, Window = Window, ConnectionMultiplexerFactory = () => context.Redis,
                })))),
                new Candidate("ours: fixed window", Cycle(p => store.DecideAsync(p, fixedWindow)))),
        })
        {
            var table = await PeerComparison.MeasureAsync(context, Concurrency, peer, ours);
            context.Print($"## {Name}: {label}, {Partitions} callers round-robin, limit {Limit} per {Window.TotalSeconds:0} s", table);
        }

        var burst = new MarkdownTable("implementation", "limit", "requests (64 at a time)", "admitted", "excess admitted");
        foreach (var (name, decide) in new (string, Func<string, Task<bool>>)[]
        {
            ("ours: sliding window (exact)", async p => (await store.DecideAsync(p, sliding)).Admitted),
            ("ours: fixed window", async p => (await store.DecideAsync(p, fixedWindow)).Admitted),
            ("textbook: INCR then EXPIRE", p => TextbookFixedAsync(db, $"naive:fixed:{p}")),
            ("textbook: sliding window, 4 calls", p => TextbookSlidingAsync(db, $"naive:sliding:{p}")),
        })
        {
            var partition = $"burst:{Guid.NewGuid():N}";
            var admitted = 0;
            await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
            {
                for (var i = 0; i < 1000 / 64 + 1; i++)
                {
                    if (await decide(partition))
                    {
                        Interlocked.Increment(ref admitted);
                    }
                }
            })));
            burst.Add(name, Limit, 64 * (1000 / 64 + 1), admitted, admitted - Limit);
        }
        context.Print("## rate-limit: one caller's burst", burst);
    }

    private static async Task<bool> TextbookFixedAsync(IDatabase db, string key)
    {
        var count = await db.StringIncrementAsync(key);
        if (count == 1)
        {
            await db.KeyExpireAsync(key, Window);
        }
        return count <= Limit;
    }

    private static async Task<bool> TextbookSlidingAsync(IDatabase db, string key)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await db.SortedSetRemoveRangeByScoreAsync(key, double.NegativeInfinity, now - Window.TotalMilliseconds);
        if (await db.SortedSetLengthAsync(key) >= Limit)
        {
            return false;
        }
        await db.SortedSetAddAsync(key, Guid.NewGuid().ToString("N"), now);
        await db.KeyExpireAsync(key, Window);
        return true;
    }
}
