using System.Diagnostics;

namespace Benchmarks.Harness;

/// <summary>Operations per second and latency percentiles of one measured run.</summary>
public sealed record LoadResult(int Concurrency, long Operations, TimeSpan Elapsed, double P50Micros, double P99Micros)
{
    public double OpsPerSecond => Operations / Elapsed.TotalSeconds;
}

/// <summary>
/// Runs an operation from N concurrent callers for a fixed time (after a warm-up that is not counted) and
/// records every call's latency. Callers share whatever the operation closes over, as app code shares one
/// multiplexer.
/// </summary>
public static class LoadRunner
{
    public static Task<LoadResult> RunAsync(
        int concurrency, TimeSpan duration, TimeSpan warmup, Func<Task> operation) =>
        RunAsync(concurrency, duration, warmup, _ => operation());

    /// <summary>The same, telling the operation which caller (0 to concurrency - 1) runs it: for keys per caller.</summary>
    public static async Task<LoadResult> RunAsync(
        int concurrency, TimeSpan duration, TimeSpan warmup, Func<int, Task> operation)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);

        await RunCallersAsync(concurrency, warmup, operation);
        var started = Stopwatch.GetTimestamp();
        var latencies = await RunCallersAsync(concurrency, duration, operation);
        var elapsed = Stopwatch.GetElapsedTime(started);

        var all = latencies.SelectMany(l => l).ToArray();
        Array.Sort(all);
        return new LoadResult(concurrency, all.Length, elapsed, Micros(Percentile(all, 0.50)), Micros(Percentile(all, 0.99)));
    }

    private static async Task<List<long>[]> RunCallersAsync(int concurrency, TimeSpan duration, Func<int, Task> operation)
    {
        var stopAt = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var callers = Enumerable.Range(0, concurrency).Select(caller => Task.Run(async () =>
        {
            var latencies = new List<long>(capacity: 64 * 1024);
            while (Stopwatch.GetTimestamp() < stopAt)
            {
                var start = Stopwatch.GetTimestamp();
                await operation(caller);
                latencies.Add(Stopwatch.GetTimestamp() - start);
            }
            return latencies;
        }));
        return await Task.WhenAll(callers);
    }

    private static long Percentile(long[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

    private static double Micros(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;
}
