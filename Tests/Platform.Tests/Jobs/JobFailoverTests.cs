using System.Collections.Concurrent;
using System.Diagnostics;
using Platform.Jobs;
using Platform.Tests.Redis;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Platform.Tests.Jobs;

/// <summary>
/// 1,000 jobs enqueued on a Redis Cluster while the queue's master is SIGKILLed: its replica is promoted, the killed
/// node is started again once that happened (as a supervisor would) and rejoins as the new master's replica. Then a
/// worker runs the queue. Each test has a cluster of its own. The figures go to the test output.
/// </summary>
[NeedsRedisCluster]
public sealed class JobFailoverTests(ITestOutputHelper output)
{
    private const int Jobs = 1_000;
    private const int KillAfter = 200;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    /// <summary>With the durability option, every acknowledged enqueue survives the failover and runs exactly once.</summary>
    [Fact]
    public async Task WithReplicaAcknowledgementEveryAcknowledgedJobSurvivesAFailoverAndCompletesExactlyOnce()
    {
        var run = await FailOverWhileEnqueueingAsync(enqueueReplicas: 1);

        Assert.Equal(Jobs, run.Acknowledged.Count);
        Assert.Empty(run.Lost);
        Assert.All(run.Runs.Values, runs => Assert.Equal(1, runs));
        Assert.Equal(run.Acknowledged.Order(), run.Runs.Keys.Order());
    }

    /// <summary>Without it, replication is asynchronous: what a failover loses is counted and reported, not asserted away.</summary>
    [Fact]
    public async Task WithoutReplicaAcknowledgementTheJobsAFailoverLosesAreCountedAndTheRestCompleteExactlyOnce()
    {
        var run = await FailOverWhileEnqueueingAsync(enqueueReplicas: 0);

        Assert.Equal(Jobs, run.Acknowledged.Count);
        Assert.All(run.Runs.Values, runs => Assert.Equal(1, runs));
        Assert.Equal(run.Acknowledged.Except(run.Lost).Order(), run.Runs.Keys.Order());
    }

    private sealed record Run(List<string> Acknowledged, List<string> Lost, Dictionary<string, long> Runs);

    private async Task<Run> FailOverWhileEnqueueingAsync(int enqueueReplicas)
    {
        await using var cluster = await RedisClusterProcess.StartNewAsync();
        // Short timeouts: during the failover a call to the dead master fails in about a second instead of hanging.
        await using var connection = await ConnectionMultiplexer.ConnectAsync(
            $"{cluster.ConnectionString},abortConnect=false,connectTimeout=1000,syncTimeout=1000,asyncTimeout=1000",
            options => options.BacklogPolicy = BacklogPolicy.FailFast);
        var queue = $"q{Guid.NewGuid():N}";
        var jobs = JobQueueTests.Queue(connection, queue, options => options.EnqueueReplicas = enqueueReplicas);
        var failover = await ClusterFailover.OfMasterServingAsync(cluster, connection, $"jobs:{{{queue}}}:ready");

        var acknowledged = new List<string>();
        var latencies = new List<double>();
        var refused = 0;
        var clock = Stopwatch.StartNew();
        TimeSpan? killedAt = null, firstAfterKill = null;
        for (var i = 0; i < Jobs; i++)
        {
            if (i == KillAfter)
            {
                await failover.KillAsync();
                killedAt = clock.Elapsed;
            }
            while (true)
            {
                Assert.True(clock.Elapsed < Deadline, $"job {i} was not acknowledged within {Deadline}");
                var started = clock.Elapsed;
                try
                {
                    // The same idempotency key on every attempt: a retry of an enqueue whose acknowledgement failed
                    // never makes a second job.
                    var result = await jobs.EnqueueAsync(new EnqueueRequest(queue, "failover", $"{{\"n\":{i}}}", IdempotencyKey: $"job-{i}"));
                    acknowledged.Add(result.JobId);
                    if (killedAt is null)
                    {
                        latencies.Add((clock.Elapsed - started).TotalMilliseconds);
                    }
                    else
                    {
                        firstAfterKill ??= clock.Elapsed;
                    }
                    break;
                }
                catch (Exception e) when (e is RedisException or TimeoutException or JobNotReplicatedException)
                {
                    // Refused, or no answer in time (CI saw WAIT answer after the client's 1 s on a loaded machine):
                    // sent again, as a producer given a 503 does.
                    refused++;
                    await Task.Delay(50);
                }
                if (killedAt is not null)
                {
                    await failover.PromotedAsync(); // and then the killed node is started again
                }
            }
        }
        await failover.WaitForPromotionAsync(Deadline);

        // What is lost is counted twice: at once (the restarted node may still be taking its place as a replica), and
        // once the cluster is whole again; only the second is the failover's loss.
        var servedBy = (await cluster.MasterOfAsync(connection, $"jobs:{{{queue}}}:ready")).Port;
        var (missingAtOnce, unreadableAtOnce) = await MissingAsync(jobs, acknowledged);
        await cluster.WaitUntilHealthyAsync(Deadline);
        var (lost, unreadable) = await MissingAsync(jobs, acknowledged);
        Assert.Empty(unreadable);
        var killedNodeRole = await failover.RoleOfKilledNodeAsync();
        // The worker starts once the cluster is whole again, so that its handler runs can be counted exactly once: a
        // worker running through the failover is JobWorkerFailoverTests' subject (a lease lost to the outage may run a
        // job again there, as the lease contract says).
        var db = connection.GetDatabase();
        using var stop = new CancellationTokenSource();
        var processor = JobQueueTests.Processor(jobs, queue, new SinkHandler(connection, queue, TimeSpan.Zero), concurrency: 8).RunAsync(stop.Token);

        output.WriteLine($"EnqueueReplicas={enqueueReplicas}: {Jobs} jobs, master {failover.Master.Port} killed after {KillAfter}.");
        output.WriteLine($"  enqueue before the kill: mean {latencies.Average():F2} ms, p99 {Percentile(latencies, 0.99):F2} ms");
        output.WriteLine($"  at the kill: {failover.StateAtKill}");
        output.WriteLine($"  replica promoted {failover.Promotion?.TotalSeconds:F1} s after the kill; " +
                         $"enqueues unavailable for {(firstAfterKill - killedAt)?.TotalSeconds:F1} s; {refused} attempts refused (retried)");
        output.WriteLine($"  acknowledged {acknowledged.Count}, distinct ids {acknowledged.Distinct().Count()}; " +
                         $"read right after the restart (slot served by {servedBy}): missing {missingAtOnce.Count}" +
                         $" (of those enqueued before the kill {missingAtOnce.Count(id => acknowledged.IndexOf(id) < KillAfter)}), unreadable {unreadableAtOnce.Count}");
        output.WriteLine($"  the killed node, started again, is now: {killedNodeRole}");
        output.WriteLine($"  lost in the failover (read once the cluster is whole): {lost.Count}" +
                         $" (of those enqueued before the kill {lost.Count(id => acknowledged.IndexOf(id) < KillAfter)})");
        var expected = acknowledged.Distinct().Count() - lost.Count;
        try
        {
            await WaitUntilAsync(async () => await TryAsync(() => db.SetLengthAsync(SinkHandler.Done(queue))) >= expected, $"{expected} jobs to complete");
        }
        catch (TimeoutException)
        {
            var counts = await jobs.GetCountsAsync(queue);
            output.WriteLine($"  timed out: done {await db.SetLengthAsync(SinkHandler.Done(queue))}, queue {counts}");
            throw;
        }
        await stop.CancelAsync();
        await processor.WaitAsync(Deadline);
        var runs = (await db.HashGetAllAsync(SinkHandler.Runs(queue))).ToDictionary(e => (string)e.Name!, e => (long)e.Value);

        output.WriteLine($"  completed {runs.Count}, ran twice {runs.Count(r => r.Value > 1)}");
        return new(acknowledged, lost, runs);
    }

    /// <summary>The acknowledged jobs Redis does not know, and those it could not be asked about (an error).</summary>
    private static async Task<(List<string> Missing, List<string> Unreadable)> MissingAsync(JobQueue jobs, List<string> acknowledged)
    {
        var (missing, unreadable) = (new List<string>(), new List<string>());
        foreach (var id in acknowledged.Distinct())
        {
            try
            {
                if (await jobs.GetAsync(id) is null)
                {
                    missing.Add(id);
                }
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                unreadable.Add(id);
            }
        }
        return (missing, unreadable);
    }

    private static async Task<long> TryAsync(Func<Task<long>> read)
    {
        try
        {
            return await read();
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return -1;
        }
    }

    private static Task WaitUntilAsync(Func<Task<bool>> condition, string what) =>
        JobQueueTests.WaitUntilAsync(condition, Deadline, what);

    private static double Percentile(List<double> values, double p) =>
        values.Order().ElementAt(Math.Min(values.Count - 1, (int)Math.Ceiling(p * values.Count) - 1));
}
