using System.Diagnostics;
using Platform.Jobs;
using Platform.Tests.Redis;
using Xunit.Abstractions;

namespace Platform.Tests.Jobs;

/// <summary>
/// A queue's slot moved to another master (<see cref="SlotMigration"/>, slowly) while producers enqueue and a worker
/// runs the queue. The counts go to the test output.
/// </summary>
[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class JobReshardTests(RedisClusterFixture cluster, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    /// <param name="busyQueue">
    /// The queue also holds a job delayed by an hour and a dead one, and its reaper guard lives throughout (as with the
    /// default 5 s interval on a busy queue): every key a Jobs script declares exists, so the scripts are not refused
    /// with TRYAGAIN for a missing key but run on whichever node has all of them, while the job hashes they reach by
    /// name (undeclared) may still be on the other.
    /// </param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EveryJobAcknowledgedWhileItsQueueSlotMovesCompletesExactlyOnceAndNoneIsDeadLettered(bool busyQueue)
    {
        var queue = $"q{Guid.NewGuid():N}";
        var sink = $"s{Guid.NewGuid():N}";
        var connection = cluster.Connection;
        var jobs = JobQueueTests.Queue(connection, queue);
        var slot = SlotMigration.SlotOf(connection, $"{{{queue}}}");
        using var enqueues = new ReshardTraffic();
        using var worker = new ReshardTraffic();
        var acknowledged = new HashSet<string>();
        string? poisonId = null;

        async Task EnqueueAsync(int i)
        {
            while (true)
            {
                Assert.True(acknowledged.Count < 100_000);
                try
                {
                    // The same idempotency key on every attempt, as a client retrying a 503 would send.
                    var result = await jobs.EnqueueAsync(new EnqueueRequest(queue, "reshard", $"{{\"n\":{i}}}", IdempotencyKey: $"job-{i}"));
                    acknowledged.Add(result.JobId);
                    enqueues.Success();
                    return;
                }
                catch (Exception e)
                {
                    enqueues.Failure(e);
                    await Task.Delay(20);
                }
            }
        }

        if (busyQueue)
        {
            await jobs.EnqueueAsync(new EnqueueRequest(queue, "later", "{}", Delay: TimeSpan.FromHours(1)));
            poisonId = (await jobs.EnqueueAsync(new EnqueueRequest(queue, Poison, "{}", MaxAttempts: 1))).JobId;
        }
        // Jobs already waiting give the slot keys to move before the worker starts.
        for (var i = 0; i < 200; i++)
        {
            await EnqueueAsync(i);
        }
        using var stop = new CancellationTokenSource();
        var processor = new JobProcessor(jobs, new PoisonRefusingHandler(new SinkHandler(connection, sink, TimeSpan.FromMilliseconds(busyQueue ? 50 : 5))), new JobProcessorOptions
        {
            Queue = queue,
            Concurrency = 4,
            // The default lease, longer than the move: a job whose completion waits out the move keeps its lease.
            VisibilityTimeout = TimeSpan.FromSeconds(30),
            ReapInterval = busyQueue ? TimeSpan.FromSeconds(60) : TimeSpan.FromMilliseconds(500),
            IdlePoll = TimeSpan.FromMilliseconds(200),
            ShutdownGrace = TimeSpan.FromSeconds(10),
            DepthSampleInterval = TimeSpan.FromMilliseconds(500),
        }, worker).RunAsync(stop.Token);

        if (busyQueue)
        {
            // The dead job first; the slow handler (50 ms, 4 at a time) keeps ready and active non-empty from here on.
            await JobQueueTests.WaitUntilAsync(async () => (await jobs.GetCountsAsync(queue)).Dead == 1, Deadline, "the poison job's death");
            // Held as a reaping worker holds it; its interval (60 s) keeps this run's own reaper from taking it.
            await connection.GetDatabase().StringSetAsync($"jobs:{{{queue}}}:reaper", "another worker", TimeSpan.FromMinutes(2));
        }
        var moving = SlotMigration.MoveAsync(cluster.Cluster, slot, batchSize: 2, pause: TimeSpan.FromMilliseconds(20));
        var n = 200;
        while (!moving.IsCompleted)
        {
            await EnqueueAsync(n++);
        }
        var migration = await moving;
        output.WriteLine($"busy queue: {busyQueue}");
        for (var end = n + 100; n < end; n++)
        {
            await EnqueueAsync(n);
        }

        var db = connection.GetDatabase();
        var clock = Stopwatch.StartNew();
        while (await db.SetLengthAsync(SinkHandler.Done(sink)) < acknowledged.Count && clock.Elapsed < Deadline)
        {
            await Task.Delay(100);
        }
        await stop.CancelAsync();
        await processor;
        var runs = (await db.HashGetAllAsync(SinkHandler.Runs(sink))).Where(e => e.Name != poisonId)
            .ToDictionary(e => (string)e.Name!, e => (long)e.Value);
        var counts = await jobs.GetCountsAsync(queue);

        output.WriteLine($"slot {slot} moved {migration.Source.Port} -> {migration.Target.Port}: {migration.KeysMoved} keys in {migration.Batches} batches, {migration.Duration.TotalSeconds:F1} s");
        output.WriteLine($"enqueues (the resends counted are the worker's too): {enqueues}");
        output.WriteLine($"worker (its log): {worker.Errors}");
        output.WriteLine($"acknowledged {acknowledged.Count}, completed {runs.Count}, ran more than once {runs.Count(r => r.Value > 1)}, queue {counts}");

        Assert.Empty(enqueues.NotOutages);
        Assert.Empty(worker.NotOutages);
        Assert.Equal(busyQueue ? 1 : 0, counts.Dead);
        Assert.Equal(acknowledged.Order(), runs.Keys.Order());
        Assert.All(runs.Values, r => Assert.Equal(1, r));
    }

    private const string Poison = "poison";

    /// <summary>Fails a job of type <see cref="Poison"/> (its one attempt: dead-lettered); the rest go to the sink.</summary>
    private sealed class PoisonRefusingHandler(IJobHandler inner) : IJobHandler
    {
        public Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken) => job.Type == Poison
            ? throw new InvalidOperationException("poison")
            : inner.HandleAsync(job, cancellationToken);
    }
}
