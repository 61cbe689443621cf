using Platform.Jobs;
using Platform.Tests.Redis;
using StackExchange.Redis;

namespace Platform.Tests.Jobs;

/// <summary>
/// Redis killed and restarted under a running worker, with the append-only file fsynced on every write: redis-server
/// only (Garnet 2.2.8's --aof failed on writes when we tried it).
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class JobQueueRestartTests
{
    [RedisServerFact("the append-only file")]
    public async Task WorkersReconnectAfterARedisRestartAndNoAcknowledgedEnqueueIsLost()
    {
        const int count = 2000;
        var queue = $"q{Guid.NewGuid():N}";
        await using var server = await RedisServerProcess.StartNewAsync(RedisServerKind.RedisServer, appendOnly: true);
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"{server.ConnectionString},abortConnect=false,connectRetry=10");
        var jobs = JobQueueTests.Queue(connection, queue);
        using var stop = new CancellationTokenSource();
        var processor = JobQueueTests.Processor(jobs, queue, new SinkHandler(connection, queue, TimeSpan.FromMilliseconds(5)), concurrency: 4)
            .RunAsync(stop.Token);

        // Each job has an idempotency key, so a producer may safely retry an enqueue whose answer it never got.
        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<string>();
        var next = -1;
        var producers = Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                while (true)
                {
                    try
                    {
                        acknowledged.Add((await jobs.EnqueueAsync(new EnqueueRequest(queue, "sink", "{}", IdempotencyKey: $"k{i}"))).JobId);
                        break;
                    }
                    // Redis away, or back and still loading its append-only file: nothing was enqueued, try again.
                    catch (Exception e) when (e is RedisConnectionException or RedisTimeoutException
                        || (e is RedisServerException && e.Message.StartsWith("LOADING", StringComparison.Ordinal)))
                    {
                        await Task.Delay(50);
                    }
                }
                await Task.Delay(1);
            }
        })));
        await JobQueueTests.WaitUntilAsync(() => Task.FromResult(acknowledged.Count >= count / 3), TimeSpan.FromSeconds(60), "a third of the jobs");

        var acknowledgedBeforeKill = acknowledged.Count;
        await server.KillAsync(); // SIGKILL: only what the AOF holds survives
        await Task.Delay(1000);
        await server.StartAsync();
        await producers;

        var done = SinkHandler.Done(queue);
        await JobQueueTests.WaitUntilAsync(async () => await connection.GetDatabase().SetLengthAsync(done) >= count, TimeSpan.FromMinutes(2),
            "every acknowledged job to run");
        await stop.CancelAsync();
        await processor;

        // Enqueues were in flight across the restart. Whether one failed (and was retried above) or waited in the
        // multiplexer's backlog until Redis was back depends on timing, so that is not asserted.
        Assert.True(acknowledgedBeforeKill < count, $"the producers had finished before the restart ({acknowledgedBeforeKill} of {count})");
        Assert.Equal(count, acknowledged.Distinct().Count());
        var statuses = await Task.WhenAll(acknowledged.Distinct().Select(jobs.GetAsync));
        Assert.All(statuses, s => Assert.Equal(JobState.Completed, s?.State));
        Assert.Equal(new QueueCounts(queue, 0, 0, 0, 0), await jobs.GetCountsAsync(queue));
    }
}
