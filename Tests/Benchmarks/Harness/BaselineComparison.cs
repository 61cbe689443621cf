namespace Benchmarks.Harness;

/// <summary>
/// Measures candidates against the first one (the baseline, measured in the same run) at each concurrency: ops/s,
/// the ratio to the baseline, latency, and what each operation costs Redis.
/// </summary>
public static class BaselineComparison
{
    public static async Task<MarkdownTable> MeasureAsync(
        BenchmarkContext context, int[] concurrency, params (string Name, Func<Task> Run)[] candidates)
    {
        var table = new MarkdownTable("operation", "callers", "ops/s", "x baseline", "p50 µs", "p99 µs",
            "round trips/op", "server commands/op", "server µs/op");
        var baseline = new Dictionary<int, double>();
        foreach (var (name, run) in candidates)
        {
            var cost = await CommandCost.MeasureAsync(context.Redis, 1000, run);
            foreach (var callers in concurrency)
            {
                var result = await LoadRunner.RunAsync(callers, context.Duration, context.Warmup, run);
                baseline.TryAdd(callers, result.OpsPerSecond);
                table.Add(name, callers, result.OpsPerSecond, result.OpsPerSecond / baseline[callers],
                    result.P50Micros, result.P99Micros, cost.RoundTrips, cost.ServerCommands, cost.ServerMicros);
            }
        }
        return table;
    }
}
