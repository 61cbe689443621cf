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
        var master = await cluster.MasterOfAsync(connection, $"jobs:{{{queue}}}:ready");
        var replica = await ReplicaOfAsync(connection, master.Port);

        var acknowledged = new List<string>();
        var latencies = new List<double>();
        var refused = 0;
        var clock = Stopwatch.StartNew();
        TimeSpan? killedAt = null, firstAfterKill = null, promotedAt = null;
        for (var i = 0; i < Jobs; i++)
        {
            if (i == KillAfter)
            {
                await master.KillAsync();
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
                catch (Exception e) when (e is RedisException or JobNotReplicatedException)
                {
                    refused++;
                    await Task.Delay(50);
                }
                // Restart the killed node only once its replica has taken over: started earlier, an empty master
                // (no persistence) would come back with the slot's data gone.
                if (killedAt is not null && promotedAt is null && await IsMasterAsync(replica))
                {
                    promotedAt = clock.Elapsed;
                    await master.StartAsync();
                }
            }
        }
        if (killedAt is not null && promotedAt is null)
        {
            await WaitUntilAsync(() => IsMasterAsync(replica), "the replica's promotion");
            promotedAt = clock.Elapsed;
            await master.StartAsync();
        }

        var lost = new List<string>();
        foreach (var id in acknowledged.Distinct())
        {
            if (await jobs.GetAsync(id) is null)
            {
                lost.Add(id);
            }
        }

        output.WriteLine($"EnqueueReplicas={enqueueReplicas}: {Jobs} jobs, master {master.Port} killed after {KillAfter}.");
        output.WriteLine($"  enqueue before the kill: mean {latencies.Average():F2} ms, p99 {Percentile(latencies, 0.99):F2} ms");
        output.WriteLine($"  replica promoted {(promotedAt - killedAt)?.TotalSeconds:F1} s after the kill; " +
                         $"enqueues unavailable for {(firstAfterKill - killedAt)?.TotalSeconds:F1} s; {refused} attempts refused (retried)");
        output.WriteLine($"  acknowledged {acknowledged.Count}, lost in the failover {lost.Count}, distinct ids {acknowledged.Distinct().Count()}");
        // The worker starts once the cluster is whole again (every slot served, the restarted node a replica): a
        // worker running through the reconfiguration fails its jobs' attempts on the moving slot map and can dead-letter
        // them (seen on CI: 134 of 800), which would be measured here as loss that the failover itself did not cause.
        await cluster.WaitUntilHealthyAsync(Deadline);
        var db = connection.GetDatabase();
        using (var stop = new CancellationTokenSource())
        {
            var processor = JobQueueTests.Processor(jobs, queue, new SinkHandler(connection, queue, TimeSpan.Zero), concurrency: 8).RunAsync(stop.Token);
            var expected = acknowledged.Distinct().Count() - lost.Count;
            try
            {
                await WaitUntilAsync(async () => await db.SetLengthAsync(SinkHandler.Done(queue)) >= expected, $"{expected} jobs to complete");
            }
            catch (TimeoutException)
            {
                var counts = await jobs.GetCountsAsync(queue);
                output.WriteLine($"  timed out: done {await db.SetLengthAsync(SinkHandler.Done(queue))}, queue {counts}");
                throw;
            }
            await stop.CancelAsync();
            await processor;
        }
        var runs = (await db.HashGetAllAsync(SinkHandler.Runs(queue))).ToDictionary(e => (string)e.Name!, e => (long)e.Value);

        output.WriteLine($"  completed {runs.Count}, ran twice {runs.Count(r => r.Value > 1)}");
        return new(acknowledged, lost, runs);
    }

    /// <summary>The replica of the master on <paramref name="masterPort"/> (ROLE: slave, its master's address and port, ...).</summary>
    private static async Task<IServer> ReplicaOfAsync(IConnectionMultiplexer connection, int masterPort)
    {
        foreach (var server in connection.GetServers().Where(s => s.IsReplica))
        {
            var role = (RedisResult[])(await server.ExecuteAsync("ROLE"))!;
            if ((long)role[2] == masterPort)
            {
                return server;
            }
        }
        throw new InvalidOperationException($"No replica of the master on port {masterPort}.");
    }

    private static async Task<bool> IsMasterAsync(IServer server)
    {
        try
        {
            return ((RedisResult[])(await server.ExecuteAsync("ROLE"))!)[0].ToString() == "master";
        }
        catch (RedisException)
        {
            return false;
        }
    }

    private static Task WaitUntilAsync(Func<Task<bool>> condition, string what) =>
        JobQueueTests.WaitUntilAsync(condition, Deadline, what);

    private static double Percentile(List<double> values, double p) =>
        values.Order().ElementAt(Math.Min(values.Count - 1, (int)Math.Ceiling(p * values.Count) - 1));
}
