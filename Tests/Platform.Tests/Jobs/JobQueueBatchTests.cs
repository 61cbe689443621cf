using Platform.Jobs;
using Platform.Tests.Redis;
using StackExchange.Redis;

namespace Platform.Tests.Jobs;

[Collection(RedisCollection.Name)]
public sealed class JobQueueBatchOnRedisServer(RedisServerFixture redis) : JobQueueBatchTests(redis);

[Collection(GarnetCollection.Name)]
public sealed class JobQueueBatchOnGarnet(GarnetServerFixture garnet) : JobQueueBatchTests(garnet);

[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class JobQueueBatchOnCluster(RedisClusterFixture cluster) : JobQueueBatchTests(cluster);

/// <summary><see cref="JobQueue.EnqueueManyAsync"/>: one script per batch, each job as one enqueue would be.</summary>
public abstract class JobQueueBatchTests(RedisServerFixture redis)
{
    private readonly string _queue = $"q{Guid.NewGuid():N}";

    [Fact]
    public async Task AnIdempotencyKeyRepeatedInOneBatchEnqueuesOneJobAndNamesItForEveryRepeat()
    {
        var jobs = JobQueueTests.Queue(redis.Connection, _queue);

        var results = await jobs.EnqueueManyAsync(
        [
            new EnqueueRequest(_queue, "t", "{\"n\":0}", IdempotencyKey: "order-7"),
            new EnqueueRequest(_queue, "t", "{\"n\":1}"),
            new EnqueueRequest(_queue, "t", "{\"n\":2}", IdempotencyKey: "order-7"),
            new EnqueueRequest(_queue, "t", "{\"n\":3}", IdempotencyKey: "order-8"),
        ]);

        Assert.Equal([true, true, false, true], results.Select(r => r.Created));
        Assert.Equal(results[0].JobId, results[2].JobId);
        Assert.Equal(3, results.Select(r => r.JobId).Distinct().Count());
        Assert.Equal(new QueueCounts(_queue, 3, 0, 0, 0), await jobs.GetCountsAsync(_queue));
        // Across calls the key still names the batch's job.
        Assert.Equal(new EnqueueResult(results[0].JobId, false),
            await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}", IdempotencyKey: "order-7")));
        var again = await jobs.EnqueueManyAsync(
        [
            new EnqueueRequest(_queue, "t", "{}", IdempotencyKey: "order-8"),
            new EnqueueRequest(_queue, "t", "{}", IdempotencyKey: "order-9"),
            new EnqueueRequest(_queue, "t", "{}", IdempotencyKey: "order-8"),
        ]);
        Assert.Equal(new EnqueueResult(results[3].JobId, false), again[0]);
        Assert.True(again[1].Created);
        Assert.Equal(new EnqueueResult(results[3].JobId, false), again[2]);
        Assert.Equal(4, (await jobs.GetCountsAsync(_queue)).Ready);
        Assert.Equal("{\"n\":0}", await redis.Connection.GetDatabase().HashGetAsync(new JobKeys(_queue).Job(results[0].JobId), "payload"));
    }

    [Theory]
    [InlineData("payload", "not json", null)]
    [InlineData("priority", "{}", null)]
    [InlineData("queue", "{}", "other")]
    public async Task ABatchWithOneInvalidJobIsRefusedWholeAndEnqueuesNothing(string field, string payload, string? queue)
    {
        var jobs = JobQueueTests.Queue(redis.Connection, _queue, o => o.Queues = [_queue, "other"]);
        var batch = Enumerable.Range(0, 10).Select(i => new EnqueueRequest(_queue, "t", "{}", IdempotencyKey: $"k{i}")).ToList();
        batch[7] = new EnqueueRequest(queue ?? _queue, "t", payload, Priority: field == "priority" ? -1 : 0, IdempotencyKey: "k7");

        var error = await Assert.ThrowsAsync<JobValidationException>(() => jobs.EnqueueManyAsync(batch));

        Assert.Equal(field, error.Field);
        Assert.Contains("Job 7", error.Message, StringComparison.Ordinal);
        Assert.Equal(new QueueCounts(_queue, 0, 0, 0, 0), await jobs.GetCountsAsync(_queue));
        var db = redis.Connection.GetDatabase();
        Assert.False(await db.KeyExistsAsync(new JobKeys(_queue).All[4])); // no id was even taken
        Assert.False(await db.KeyExistsAsync($"{new JobKeys(_queue).Prefix}idem:k0")); // nor a key claimed
    }

    [Fact]
    public async Task ABatchRingsTheDoorbellOnceAndAnEmptyBatchCallsNothing()
    {
        var jobs = JobQueueTests.Queue(redis.Connection, _queue);
        var rings = 0;
        var subscriber = redis.Connection.GetSubscriber();
        var doorbell = RedisChannel.Literal(new JobKeys(_queue).Doorbell);
        await subscriber.SubscribeAsync(doorbell, (_, _) => Interlocked.Increment(ref rings));
        try
        {
            Assert.Empty(await jobs.EnqueueManyAsync([]));
            var results = await jobs.EnqueueManyAsync(
                [.. Enumerable.Range(0, 100).Select(i => new EnqueueRequest(_queue, "t", "{}", Delay: i % 2 == 0 ? null : TimeSpan.FromMinutes(1)))]);
            // A ping after the batch: its reply comes after any message the batch published on this connection.
            await subscriber.PingAsync();
            await Task.Delay(200);

            Assert.Equal(100, results.Count(r => r.Created));
            Assert.Equal(1, Volatile.Read(ref rings));
            Assert.Equal(new QueueCounts(_queue, 50, 50, 0, 0), await jobs.GetCountsAsync(_queue));
        }
        finally
        {
            await subscriber.UnsubscribeAsync(doorbell);
        }
    }

    [Fact]
    public async Task TenThousandJobsEnqueuedInBatchesOfOneHundredRunExactlyOnce()
    {
        const int count = 10_000;
        var jobs = JobQueueTests.Queue(redis.Connection, _queue);
        var handler = new SinkHandler(redis.Connection, _queue, TimeSpan.Zero);
        using var stop = new CancellationTokenSource();
        var processor = JobQueueTests.Processor(jobs, _queue, handler, concurrency: 8).RunAsync(stop.Token);

        var ids = new List<string>(count);
        // Four producers at once, so batches interleave with each other and with the claims.
        var batches = await Task.WhenAll(Enumerable.Range(0, count / 100).Chunk(25).Select(chunk => Task.Run(async () =>
        {
            var mine = new List<string>();
            foreach (var b in chunk)
            {
                var results = await jobs.EnqueueManyAsync(
                    [.. Enumerable.Range(0, 100).Select(i => new EnqueueRequest(_queue, "t", $"{{\"n\":{b * 100 + i}}}", Priority: i % 3))]);
                mine.AddRange(results.Select(r => r.JobId));
            }
            return mine;
        })));
        foreach (var batch in batches)
        {
            ids.AddRange(batch);
        }
        var db = redis.Connection.GetDatabase();
        await JobQueueTests.WaitUntilAsync(async () => await db.SetLengthAsync(SinkHandler.Done(_queue)) == count,
            TimeSpan.FromSeconds(120), $"{count} jobs to complete");
        await Task.Delay(500); // a job run twice would show up now
        await stop.CancelAsync();
        await processor;

        Assert.Equal(count, ids.Distinct().Count());
        var runs = (await db.HashGetAllAsync(SinkHandler.Runs(_queue))).ToDictionary(e => (string)e.Name!, e => (long)e.Value);
        Assert.Equal(ids.Order(), runs.Keys.Order());
        Assert.All(runs.Values, n => Assert.Equal(1, n));
        Assert.Equal(new QueueCounts(_queue, 0, 0, 0, 0), await jobs.GetCountsAsync(_queue));
    }
}
