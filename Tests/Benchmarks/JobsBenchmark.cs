using System.Collections.Concurrent;
using System.Diagnostics;
using Benchmarks.Harness;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Platform.Jobs;
using Platform.Tests;
using StackExchange.Redis;

namespace Benchmarks;

/// <summary>
/// The job queue: enqueue rate against the baseline EVALSHA, one at a time and in batches of 100
/// (<see cref="JobQueue.EnqueueManyAsync"/>); end to end (enqueue while a worker runs no-op jobs, until the last
/// completes) with 1, 4 and 16 concurrent handlers, producers enqueueing one at a time and in batches, with what each
/// job costs Redis; and the textbook queue (ZRANGEBYSCORE the first due job, run it, ZREM it) under 4 workers,
/// counting the jobs it runs twice.
/// </summary>
public static class JobsBenchmark
{
    public const string Name = "jobs";
    private static readonly int[] Handlers = [1, 4, 16];
    private const int BatchSize = 100;

    public static async Task RunAsync(BenchmarkContext context)
    {
        var jobs = new JobQueue(context.Redis, Options.Create(new JobQueueOptions { Queues = ["bench", "e2e"] }), new JobTelemetry(TestMeters.Factory));
        var evalSha = await RedisBaseline.PrepareEvalShaAsync(context.Redis);

        var enqueue = await BaselineComparison.MeasureAsync(context, [16, 64],
            ("baseline: EVALSHA one-line", evalSha),
            ("ours: enqueue (no-op job)", () => jobs.EnqueueAsync(new EnqueueRequest("bench", "noop", "{}"))));
        context.Print($"## {Name}: enqueue", enqueue);

        var batch = Enumerable.Range(0, BatchSize).Select(_ => new EnqueueRequest("bench", "noop", "{}")).ToArray();
        var batchCost = await CommandCost.MeasureAsync(context.Redis, 50, () => jobs.EnqueueManyAsync(batch));
        var batched = new MarkdownTable("operation", "callers", "batches/s", "jobs/s", "p50 µs per batch", "p99 µs per batch",
            "round trips/job", "server commands/job", "server µs/job");
        foreach (var callers in new[] { 1, 4, 16 })
        {
            // Each row starts from an empty server: the rows before it left hundreds of thousands of jobs behind.
            await FlushAsync(context);
            var result = await LoadRunner.RunAsync(callers, context.Duration, context.Warmup, () => jobs.EnqueueManyAsync(batch));
            batched.Add($"ours: EnqueueManyAsync, batches of {BatchSize} no-op jobs", callers, result.OpsPerSecond, result.OpsPerSecond * BatchSize,
                result.P50Micros, result.P99Micros, batchCost.RoundTrips / BatchSize, batchCost.ServerCommands / BatchSize,
                batchCost.ServerMicros / BatchSize);
        }
        context.Print($"## {Name}: enqueue in batches", batched);

        await FlushAsync(context);
        var count = (int)Math.Max(2000, 4000 * context.Duration.TotalSeconds);
        var endToEnd = new MarkdownTable("scenario", "handlers", "jobs", "jobs/s", "EVALSHA ops/s, same callers", "x baseline",
            "duplicates", "lost", "round trips/job", "server commands/job", "server µs/job");
        foreach (var handlers in Handlers)
        {
            var baseline = await LoadRunner.RunAsync(handlers, context.Duration, context.Warmup, evalSha);
            foreach (var (scenario, produce) in new (string, Func<JobQueue, int, Task>)[]
            {
                ("ours: enqueue one at a time (16 producers) while 1 worker runs no-op jobs", ProduceOneAtATimeAsync),
                ($"ours: enqueue in batches of {BatchSize} (4 producers) while 1 worker runs no-op jobs", ProduceInBatchesAsync),
            })
            {
                var (elapsed, duplicates, lost, cost) = await EndToEndAsync(context.Redis, jobs, handlers, count, produce);
                endToEnd.Add(scenario, handlers, count, count / elapsed.TotalSeconds,
                    baseline.OpsPerSecond, count / elapsed.TotalSeconds / baseline.OpsPerSecond, duplicates, lost,
                    cost.RoundTrips, cost.ServerCommands, cost.ServerMicros);
            }
        }
        var (textbookElapsed, textbookDuplicates) = await TextbookAsync(context, workers: 4, count: 10_000);
        endToEnd.Add("textbook: ZRANGEBYSCORE + ZREM, 4 workers (pre-filled)", 4, 10_000, 10_000 / textbookElapsed.TotalSeconds,
            "", "", textbookDuplicates, 0, "", "", "");
        context.Print($"## {Name}: end to end", endToEnd);
    }

    private static Task ProduceOneAtATimeAsync(JobQueue jobs, int count)
    {
        var next = -1;
        return Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < count)
            {
                await jobs.EnqueueAsync(new EnqueueRequest("e2e", "noop", "{}"));
            }
        })));
    }

    private static Task ProduceInBatchesAsync(JobQueue jobs, int count)
    {
        var next = -BatchSize;
        return Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            int first;
            while ((first = Interlocked.Add(ref next, BatchSize)) < count)
            {
                await jobs.EnqueueManyAsync([.. Enumerable.Range(0, Math.Min(BatchSize, count - first)).Select(_ => new EnqueueRequest("e2e", "noop", "{}"))]);
            }
        })));
    }

    private static async Task<(TimeSpan Elapsed, int Duplicates, int Lost, CommandCost Cost)> EndToEndAsync(
        IConnectionMultiplexer redis, JobQueue jobs, int handlers, int count, Func<JobQueue, int, Task> produce)
    {
        var runs = new ConcurrentDictionary<string, int>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var processor = new JobProcessor(jobs, new NoOpHandler(runs, count, done), new JobProcessorOptions
        {
            Queue = "e2e",
            Concurrency = handlers,
        }, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var run = processor.RunAsync(stop.Token);
        await Task.Delay(200); // subscribed and idle

        var elapsed = TimeSpan.Zero;
        var cost = await CommandCost.MeasureTotalAsync(redis, count, async () =>
        {
            var started = Stopwatch.GetTimestamp();
            await produce(jobs, count);
            await done.Task.WaitAsync(TimeSpan.FromMinutes(2));
            elapsed = Stopwatch.GetElapsedTime(started);
        });
        await Task.Delay(500); // a duplicate would show up now
        await stop.CancelAsync();
        await run;
        var counts = await jobs.GetCountsAsync("e2e");
        return (elapsed, runs.Values.Count(v => v > 1), count - runs.Count + (int)(counts.Ready + counts.Active), cost);
    }

    private sealed class NoOpHandler(ConcurrentDictionary<string, int> runs, int expected, TaskCompletionSource done) : IJobHandler
    {
        public Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
        {
            if (runs.AddOrUpdate(job.Id, 1, (_, n) => n + 1) == 1 && runs.Count == expected)
            {
                done.TrySetResult();
            }
            return Task.FromResult<string?>(null);
        }
    }

    /// <summary>The queue as most tutorials write it: read the first due job, run it, then remove it. Two workers read the same job.</summary>
    private static async Task<(TimeSpan Elapsed, int Duplicates)> TextbookAsync(BenchmarkContext context, int workers, int count)
    {
        RedisKey key = "bench:{textbook}:queue";
        var db = context.Redis.GetDatabase();
        await db.KeyDeleteAsync(key);
        for (var i = 0; i < count; i += 1000)
        {
            await db.SortedSetAddAsync(key, Enumerable.Range(i, 1000).Select(j => new SortedSetEntry($"job-{j}", 0)).ToArray());
        }
        var connections = await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => ConnectionMultiplexer.ConnectAsync(context.Server.ConnectionString)));
        var executions = new ConcurrentDictionary<string, int>();
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(connections.Select(connection => Task.Run(async () =>
        {
            var worker = connection.GetDatabase();
            while (true)
            {
                var due = await worker.SortedSetRangeByScoreAsync(key, double.NegativeInfinity, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), take: 1);
                if (due.Length == 0)
                {
                    return;
                }
                executions.AddOrUpdate(due[0]!, 1, (_, n) => n + 1); // "run" the job
                await worker.SortedSetRemoveAsync(key, due[0]);
            }
        })));
        var elapsed = Stopwatch.GetElapsedTime(started);
        foreach (var connection in connections)
        {
            await connection.DisposeAsync();
        }
        return (elapsed, executions.Values.Sum() - executions.Count);
    }

    /// <summary>Empties the server, or every master of a cluster (a cluster has more than one server to empty).</summary>
    private static Task FlushAsync(BenchmarkContext context) =>
        Task.WhenAll(context.Redis.GetServers().Where(s => !s.IsReplica).Select(s => s.FlushDatabaseAsync()));
}
