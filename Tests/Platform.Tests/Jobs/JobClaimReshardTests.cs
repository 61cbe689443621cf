using Platform.Jobs;
using Platform.Tests.Redis;
using Xunit.Abstractions;

namespace Platform.Tests.Jobs;

/// <summary>
/// A worker claiming while its queue's slot is split, step by step (<see cref="SlotMigration"/>): the queue's six keys
/// (every one existing, as on a busy queue) have moved, its jobs' hashes have not. claim.lua declares the six and reaches
/// the hashes by name, so Redis alone would let it run on the target (ASK), where the hashes look missing.
/// </summary>
[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class JobClaimReshardTests(RedisClusterFixture cluster, ITestOutputHelper output)
{
    [Fact]
    public async Task AClaimWhileTheQueuesSlotIsSplitWaitsAndEveryJobStillCompletesOnce()
    {
        var queue = $"q{Guid.NewGuid():N}";
        var sink = $"s{Guid.NewGuid():N}";
        var connection = cluster.Connection;
        var db = connection.GetDatabase();
        var jobs = JobQueueTests.Queue(connection, queue);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await jobs.EnqueueAsync(new EnqueueRequest(queue, "t", "{}"))).JobId);
        }
        // The keys a busy queue has anyway: a delayed job, a dead one and a running one (stand-ins whose leases and
        // dates are far off), and the reaper's guard.
        var prefix = $"jobs:{{{queue}}}:";
        await jobs.EnqueueAsync(new EnqueueRequest(queue, "later", "{}", Delay: TimeSpan.FromHours(1)));
        await db.SortedSetAddAsync(prefix + "dead", "stand-in", 0);
        await db.SortedSetAddAsync(prefix + "active", "stand-in", double.MaxValue);
        await db.StringSetAsync(prefix + "reaper", "another worker", TimeSpan.FromMinutes(2));

        using var worker = new ReshardTraffic();
        using var stop = new CancellationTokenSource();
        Task processor;
        await using (var migration = await SlotMigration.BeginAsync(cluster.Cluster, SlotMigration.SlotOf(connection, prefix + "ready")))
        {
            await migration.MigrateAsync([.. new[] { "ready", "scheduled", "active", "dead", "seq", "reaper" }.Select(k => (StackExchange.Redis.RedisKey)(prefix + k))]);
            processor = new JobProcessor(jobs, new SinkHandler(connection, sink, TimeSpan.Zero), new JobProcessorOptions
            {
                Queue = queue,
                Concurrency = 1,
                ReapInterval = TimeSpan.FromMinutes(1),
                IdlePoll = TimeSpan.FromMilliseconds(200),
                DepthSampleInterval = TimeSpan.FromSeconds(30),
            }, worker).RunAsync(stop.Token);
            await Task.Delay(TimeSpan.FromSeconds(2));
        }

        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (await db.SetLengthAsync(SinkHandler.Done(sink)) < ids.Count && waited.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(100);
        }
        await stop.CancelAsync();
        await processor;
        var runs = (await db.HashGetAllAsync(SinkHandler.Runs(sink))).ToDictionary(e => (string)e.Name!, e => (long)e.Value);
        output.WriteLine($"worker: {worker.Resends} script resends after TRYAGAIN; its log: {worker.Errors}");
        output.WriteLine($"queue {await jobs.GetCountsAsync(queue)}; jobs whose hash is gone: {(await Task.WhenAll(ids.Select(jobs.GetAsync))).Count(j => j is null)} of {ids.Count}");

        Assert.Empty(worker.NotOutages);
        Assert.Equal(ids.Order(), runs.Keys.Order());
        Assert.All(runs.Values, r => Assert.Equal(1, r));
    }
}
