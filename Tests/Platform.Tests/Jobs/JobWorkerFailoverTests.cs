using System.Collections.Concurrent;
using System.Diagnostics;
using Platform.Jobs;
using Platform.Tests.Redis;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Platform.Tests.Jobs;

/// <summary>
/// A worker running jobs while the queue's master is SIGKILLed and its replica promoted: the outage is Redis's, not
/// the jobs', so none may be dead-lettered or lose an attempt. The handler touches no Redis (it counts its runs in
/// memory), so the only faults are the queue's own: claims, renewals, completions and reaper passes meeting the dead
/// master and the moving slot map. Every job is on the replica before the kill (enqueued with
/// <see cref="JobQueueOptions.EnqueueReplicas"/> = 1), so what replication lag loses is not counted here
/// (<see cref="JobFailoverTests"/> measures that).
/// </summary>
[NeedsRedisCluster]
public sealed class JobWorkerFailoverTests(ITestOutputHelper output)
{
    private const int Jobs = 800;
    private const int KillAfterRuns = 200;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task AWorkerRunningThroughAFailoverCompletesEveryJobAndBurnsNoAttempt()
    {
        await using var cluster = await RedisClusterProcess.StartNewAsync();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(
            $"{cluster.ConnectionString},abortConnect=false,connectTimeout=1000,syncTimeout=1000,asyncTimeout=1000",
            options => options.BacklogPolicy = BacklogPolicy.FailFast);
        var queue = $"q{Guid.NewGuid():N}";
        var jobs = JobQueueTests.Queue(connection, queue, options => options.EnqueueReplicas = 1);
        var failover = await ClusterFailover.OfMasterServingAsync(cluster, connection, new JobKeys(queue).All[0]);
        var ids = new List<string>();
        for (var batch = 0; batch < Jobs / 100; batch++)
        {
            // One attempt each: any attempt the failover burns dead-letters its job.
            // Every 100th job works longer than its lease (5 s): one running at the kill loses its lease to the outage.
            var requests = Enumerable.Range(0, 100)
                .Select(i => new EnqueueRequest(queue, "failover", i == 0 ? "{\"long\":true}" : "{}", MaxAttempts: 1,
                    IdempotencyKey: $"job-{batch}-{i}")).ToList();
            // A replica slow to confirm (a loaded machine: CI saw 0 of 1 within 500 ms, and a WAIT answered after the
            // client's 1 s timeout) is retried as a producer would:
            // the same idempotency keys, so a batch stored but not confirmed is answered, not enqueued twice.
            var enqueueing = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    ids.AddRange((await jobs.EnqueueManyAsync(requests)).Select(r => r.JobId));
                    break;
                }
                catch (Exception e) when (e is JobNotReplicatedException or TimeoutException && enqueueing.Elapsed < Deadline)
                {
                    await Task.Delay(100);
                }
            }
        }

        var handler = new CountingHandler(TimeSpan.FromMilliseconds(20), TimeSpan.FromSeconds(6));
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var processor = JobQueueTests.Processor(jobs, queue, handler, concurrency: 8).RunAsync(stop.Token);
        await JobQueueTests.WaitUntilAsync(() => Task.FromResult(handler.Started >= KillAfterRuns), Deadline, $"{KillAfterRuns} runs");
        var runsAtKill = handler.Started;
        await failover.KillAsync();
        await failover.WaitForPromotionAsync(Deadline);
        await JobQueueTests.WaitUntilAsync(async () => await FinishedAsync(jobs, queue), Deadline, "the queue to have no ready, scheduled or active job");
        var drained = failover.SinceKill;
        await stop.CancelAsync();
        await processor.WaitAsync(Deadline);

        var states = new Dictionary<string, JobStatus?>();
        foreach (var id in ids)
        {
            states[id] = await jobs.GetAsync(id);
        }
        var dead = states.Values.Count(s => s?.State == JobState.Dead);
        var completed = states.Values.Count(s => s?.State == JobState.Completed);
        var startedTwice = handler.Runs.Count(r => r.Value > 1);
        var finishedTwice = handler.Finished.Count(r => r.Value > 1);
        output.WriteLine($"{Jobs} jobs (one attempt each) on 8 handlers; master {failover.Master.Port} killed after {runsAtKill} runs.");
        output.WriteLine($"  replica promoted {failover.Promotion?.TotalSeconds:F1} s after the kill; queue drained {drained.TotalSeconds:F1} s after it");
        output.WriteLine($"  completed {completed}, dead-lettered {dead}, other {Jobs - completed - dead}; started more than once {startedTwice}, finished more than once {finishedTwice}; never ran {ids.Count(id => !handler.Runs.ContainsKey(id))}");
        foreach (var error in states.Values.Where(s => s?.State != JobState.Completed).GroupBy(s => s?.Error ?? "(gone)"))
        {
            output.WriteLine($"    {error.Count()} x {error.Key}");
        }

        Assert.Equal(0, dead);
        Assert.Equal(Jobs, completed);
        Assert.All(ids, id => Assert.True(handler.Finished.ContainsKey(id), $"{id} never ran to its end"));
    }

    private static async Task<bool> FinishedAsync(JobQueue jobs, string queue)
    {
        try
        {
            var counts = await jobs.GetCountsAsync(queue);
            return counts.Ready + counts.Scheduled + counts.Active == 0;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return false; // the failover in progress
        }
    }

    /// <summary>
    /// Counts its runs (started, and finished: not cancelled by a lost lease) in memory and works a while, a long
    /// while for a payload saying so: no Redis of its own, so it never fails.
    /// </summary>
    private sealed class CountingHandler(TimeSpan work, TimeSpan longWork) : IJobHandler
    {
        private int _started;

        public ConcurrentDictionary<string, int> Runs { get; } = new();
        public ConcurrentDictionary<string, int> Finished { get; } = new();
        public int Started => Volatile.Read(ref _started);

        public async Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _started);
            Runs.AddOrUpdate(job.Id, 1, (_, n) => n + 1);
            await Task.Delay(job.Payload.Contains("long") ? longWork : work, cancellationToken);
            Finished.AddOrUpdate(job.Id, 1, (_, n) => n + 1);
            return null;
        }
    }
}
