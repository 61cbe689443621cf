namespace Benchmarks.Harness;

/// <summary>
/// Ours beside a peer library doing the same job, in the same process and run: at each concurrency the candidates
/// take turns (alternating rounds), so machine noise (other builds on a shared box) falls on all of them alike.
/// Every row carries its ratio to the peer and what one operation costs the server.
/// </summary>
public static class PeerComparison
{
    public const int Rounds = 4;

    /// <param name="peer">The library we are measured beside: its row comes first and is the "x peer" denominator.</param>
    /// <param name="ours">Our variants of the same operation, with the same keys per caller and the same concurrency.</param>
    public static async Task<MarkdownTable> MeasureAsync(BenchmarkContext context, int[] concurrency,
        Candidate peer, params Candidate[] ours)
    {
        var table = new MarkdownTable("operation", "callers", "ops/s", "x peer", "p50 µs", "p99 µs",
            "round trips/op", "server commands/op", "server µs/op");
        Candidate[] all = [peer, .. ours];
        var costs = new List<CommandCost>();
        foreach (var candidate in all)
        {
            costs.Add(await CommandCost.MeasureAsync(context.Redis, 1000, () => candidate.Run(0), candidate.TopLevelCommands));
        }
        foreach (var callers in concurrency)
        {
            var results = await RunAlternatingAsync(context, callers, all.Select(c => c.Run).ToArray());
            for (var i = 0; i < all.Length; i++)
            {
                table.Add(all[i].Name, callers, results[i].OpsPerSecond, results[i].OpsPerSecond / results[0].OpsPerSecond,
                    results[i].P50Micros, results[i].P99Micros, costs[i].RoundTrips, costs[i].ServerCommands, costs[i].ServerMicros);
            }
        }
        return table;
    }

    /// <summary>
    /// Runs each operation for <see cref="Rounds"/> rounds of duration/<see cref="Rounds"/>, in turn (A B A B ...).
    /// Ops/s is over all rounds; p50 is the mean of the rounds' p50s and p99 the worst round's p99.
    /// </summary>
    public static async Task<LoadResult[]> RunAlternatingAsync(BenchmarkContext context, int callers, Func<int, Task>[] operations)
    {
        var rounds = operations.Select(_ => new List<LoadResult>()).ToArray();
        for (var round = 0; round < Rounds; round++)
        {
            for (var i = 0; i < operations.Length; i++)
            {
                var warmup = round == 0 ? context.Warmup : TimeSpan.Zero;
                rounds[i].Add(await LoadRunner.RunAsync(callers, context.Duration / Rounds, warmup, operations[i]));
            }
        }
        return rounds.Select(r => new LoadResult(callers, r.Sum(x => x.Operations),
            TimeSpan.FromTicks(r.Sum(x => x.Elapsed.Ticks)), r.Average(x => x.P50Micros), r.Max(x => x.P99Micros))).ToArray();
    }
}

/// <param name="TopLevelCommands">
/// For an operation that sends both scripts and plain commands: the plain commands it sends itself (e.g. "set"),
/// so that server time counts them beside the scripts and not the commands the scripts call.
/// </param>
/// <param name="Run">One operation by the given caller (0 to callers - 1): keys per caller are the same for every candidate.</param>
public sealed record Candidate(string Name, Func<int, Task> Run, string[]? TopLevelCommands = null);
