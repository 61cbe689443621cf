using Platform.Tests;
using Benchmarks.Harness;
using Microsoft.Extensions.Logging.Abstractions;
using Platform.Locking;

namespace Benchmarks;

/// <summary>
/// Lock acquire+release pairs: uncontended (every caller its own lock name) at 16 and 64 callers, and 16
/// contenders on one name, against the baseline EVALSHA in the same run.
/// </summary>
public static class LocksBenchmark
{
    public const string Name = "locks";
    private static readonly int[] Concurrency = [16, 64];

    public static async Task RunAsync(BenchmarkContext context)
    {
        var locks = new RedisDistributedLock(context.Redis, TestMeters.Factory, NullLogger<RedisDistributedLock>.Instance);
        var lease = TimeSpan.FromSeconds(10);

        var next = 0;
        async Task Uncontended()
        {
            await using var handle = await locks.TryAcquireAsync($"bench-{Interlocked.Increment(ref next)}", lease, TimeSpan.Zero)
                ?? throw new InvalidOperationException("an uncontended lock was refused");
        }

        var table = await BaselineComparison.MeasureAsync(context, Concurrency,
            ("baseline: EVALSHA one-line", await RedisBaseline.PrepareEvalShaAsync(context.Redis)),
            ("ours: acquire + release, uncontended", Uncontended));
        context.Print($"## {Name}: uncontended pairs", table);

        var contended = await LoadRunner.RunAsync(16, context.Duration, context.Warmup, async () =>
        {
            await using var handle = await locks.TryAcquireAsync("bench-contended", lease, TimeSpan.FromSeconds(30));
        });
        var contention = new MarkdownTable("scenario", "contenders", "pairs/s", "p50 µs", "p99 µs");
        contention.Add("one lock name, acquire (waiting) + release", 16, contended.OpsPerSecond, contended.P50Micros, contended.P99Micros);
        context.Print($"## {Name}: contention", contention);
    }
}
