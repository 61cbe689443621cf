using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Platform.Jobs;
using Platform.Tests.Redis;
using StackExchange.Redis;

namespace Platform.Tests.Jobs;

[Collection(RedisCollection.Name)]
public sealed class JobQueueOnRedisServer(RedisServerFixture redis) : JobQueueTests(redis)
{
    /// <summary>
    /// Only here: Garnet keeps no command statistics. Server commands per job bound the queue's throughput: an enqueue
    /// with no worker waiting asks for no ZCARD and no GET; a busy worker's "done, next" looks up no stored reply and
    /// promotes nothing when nothing is due.
    /// </summary>
    [RedisServerFact("INFO commandstats")]
    public async Task AnEnqueueCostsSixServerCommandsAndABusyWorkersDoneNextTwelve()
    {
        await using var admin = await Redis.ConnectAsync(",allowAdmin=true");
        var stats = admin.GetServers().Single();
        var jobs = Queue(Redis.Connection, QueueName);
        var keys = new JobKeys(QueueName);
        var db = Redis.Connection.GetDatabase();
        await jobs.EnqueueAsync(new EnqueueRequest(QueueName, "t", "{}")); // loads the script: EVAL once
        await CompleteAsync(db, keys, "none", "none", "", claim: 0);

        var before = await CallsAsync(stats);
        await jobs.EnqueueAsync(new EnqueueRequest(QueueName, "t", "{}"));
        var enqueue = Delta(before, await CallsAsync(stats));
        var first = await ClaimAsync(db, keys, 1, 5000, "first");
        before = await CallsAsync(stats);
        var done = await CompleteAsync(db, keys, (string)first[3]!, (string)first[4]!, "{}", claim: 1);
        var doneNext = Delta(before, await CallsAsync(stats));

        Assert.Equal((1L, 3 + 10), ((long)done[1], done.Length)); // completed, and leased the second job
        Assert.Equal(new Dictionary<string, long> { ["evalsha"] = 1, ["time"] = 1, ["incrby"] = 1, ["mget"] = 1, ["hset"] = 1, ["zadd"] = 1 },
            enqueue);
        Assert.Equal(new Dictionary<string, long>
        {
            ["evalsha"] = 1, ["time"] = 1, ["hmget"] = 2, ["zrem"] = 1, ["hset"] = 2, ["pexpire"] = 1, ["zrange"] = 1,
            ["zpopmin"] = 1, ["zadd"] = 1, ["set"] = 1,
        }, doneNext);
    }

    /// <summary>
    /// The data commands called since <paramref name="before"/>: the INFO calls themselves and a client's keep-alives
    /// (PING, ECHO) left out.
    /// </summary>
    private static Dictionary<string, long> Delta(Dictionary<string, long> before, Dictionary<string, long> after) =>
        after.Where(kv => kv.Key is not ("info" or "ping" or "echo"))
            .Select(kv => (kv.Key, Calls: kv.Value - before.GetValueOrDefault(kv.Key)))
            .Where(c => c.Calls > 0).ToDictionary(c => c.Key, c => c.Calls);

    private static async Task<Dictionary<string, long>> CallsAsync(IServer server) =>
        (await server.InfoAsync("commandstats")).SelectMany(g => g).ToDictionary(
            kv => kv.Key["cmdstat_".Length..], kv => long.Parse(kv.Value.Split(',')[0]["calls=".Length..]));
}

[Collection(GarnetCollection.Name)]
public sealed class JobQueueOnGarnet(GarnetServerFixture garnet) : JobQueueTests(garnet);

[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class JobQueueOnCluster(RedisClusterFixture cluster) : JobQueueTests(cluster);

public abstract class JobQueueTests(RedisServerFixture redis)
{
    private readonly string _queue = $"q{Guid.NewGuid():N}";
    private string Sink => _queue;

    protected RedisServerFixture Redis => redis;
    protected string QueueName => _queue;

    internal static JobQueue Queue(IConnectionMultiplexer connection, string queue, Action<JobQueueOptions>? configure = null)
    {
        var options = new JobQueueOptions { Queues = [queue], FirstBackoff = TimeSpan.FromMilliseconds(200) };
        configure?.Invoke(options);
        return new JobQueue(connection, Options.Create(options), new JobTelemetry(TestMeters.Factory));
    }

    internal static JobProcessor Processor(JobQueue jobs, string queue, IJobHandler handler, int concurrency,
        TimeSpan? visibility = null, TimeSpan? grace = null) =>
        new(jobs, handler, new JobProcessorOptions
        {
            Queue = queue,
            Concurrency = concurrency,
            VisibilityTimeout = visibility ?? TimeSpan.FromSeconds(5),
            ReapInterval = TimeSpan.FromMilliseconds(500),
            IdlePoll = TimeSpan.FromMilliseconds(500),
            ShutdownGrace = grace ?? TimeSpan.FromSeconds(10),
            DepthSampleInterval = TimeSpan.FromMilliseconds(500),
        }, NullLogger.Instance);

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var waited = Stopwatch.StartNew();
        while (!await condition())
        {
            if (waited.Elapsed > timeout)
            {
                throw new TimeoutException($"Waited {timeout} for {what}.");
            }
            await Task.Delay(100);
        }
    }

    private async Task<Dictionary<string, long>> RunsAsync() =>
        (await redis.Connection.GetDatabase().HashGetAllAsync(SinkHandler.Runs(Sink))).ToDictionary(e => (string)e.Name!, e => (long)e.Value);

    private async Task<Dictionary<string, long>> StartsAsync() =>
        (await redis.Connection.GetDatabase().HashGetAllAsync(SinkHandler.Starts(Sink))).ToDictionary(e => (string)e.Name!, e => (long)e.Value);

    private Task<long> DoneAsync() => redis.Connection.GetDatabase().SetLengthAsync(SinkHandler.Done(Sink));

    [Fact]
    public async Task TenThousandJobsOnEightHandlersInTwoProcessesCompleteExactlyOnceAndDelayedOnesNeverRunEarly()
    {
        const int count = 10_000;
        var jobs = Queue(redis.Connection, _queue);
        using var other = HarnessProcess.Start("job-worker", redis.ConnectionString, _queue, Sink, "4", "0", "5000", "500");
        Assert.Equal("READY", await other.ReadLineAsync(TimeSpan.FromSeconds(30)));
        var here = new CountingHandler(new SinkHandler(redis.Connection, Sink, TimeSpan.Zero));
        using var stop = new CancellationTokenSource();
        var processor = Processor(jobs, _queue, here, concurrency: 4).RunAsync(stop.Token);

        // Mixed priorities; every 20th job delayed by 0.5 to 1.5 s.
        var delayed = new ConcurrentDictionary<string, (long EnqueuedAt, int DelayMs)>();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                var delayMs = i % 20 == 0 ? 500 + Random.Shared.Next(1000) : 0;
                var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                var job = await jobs.EnqueueAsync(new EnqueueRequest(_queue, "sink", $"{{\"i\":{i}}}", Priority: i % 7,
                    Delay: TimeSpan.FromMilliseconds(delayMs)));
                if (delayMs > 0)
                {
                    delayed[job.JobId] = (before, delayMs);
                }
            }
        })));
        await WaitUntilAsync(async () => await DoneAsync() == count, TimeSpan.FromMinutes(3), "every job in the sink");
        await Task.Delay(1000); // room for a duplicate run to show
        await other.WriteLineAsync("STOP");
        Assert.Equal("STOPPED", await other.ReadLineAsync(TimeSpan.FromSeconds(30)));
        await stop.CancelAsync();
        await processor;

        var runs = await RunsAsync();
        Assert.Equal(count, runs.Count);
        Assert.DoesNotContain(runs, r => r.Value != 1); // none twice
        Assert.InRange(here.Count, 1, count - 1); // both processes worked
        var statuses = await Task.WhenAll(runs.Keys.Select(jobs.GetAsync));
        Assert.All(statuses, s => Assert.Equal(JobState.Completed, s!.State));
        Assert.Equal(new QueueCounts(_queue, 0, 0, 0, 0), await jobs.GetCountsAsync(_queue));

        var starts = await StartsAsync();
        Assert.Equal(count / 20, delayed.Count);
        foreach (var (id, (enqueuedAt, delayMs)) in delayed)
        {
            var status = statuses.Single(s => s!.Id == id)!;
            Assert.True(status.StartedAt >= status.DueAt, $"{id} claimed at {status.StartedAt} before due {status.DueAt}");
            Assert.True(starts[$"{id}#1"] >= enqueuedAt + delayMs, $"{id} ran {enqueuedAt + delayMs - starts[$"{id}#1"]} ms early");
        }
    }

    [Fact]
    public async Task ReadyJobsRunHighestPriorityFirstAndInEnqueueOrderWithinAPriority()
    {
        var jobs = Queue(redis.Connection, _queue);
        var expected = new List<(int Priority, int Index, string Id)>();
        for (var i = 0; i < 200; i++)
        {
            var priority = Random.Shared.Next(5) * 1000;
            expected.Add((priority, i, (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "sink", "{}", Priority: priority))).JobId));
        }
        using var stop = new CancellationTokenSource();
        var processor = Processor(jobs, _queue, new SinkHandler(redis.Connection, Sink, TimeSpan.Zero), concurrency: 1).RunAsync(stop.Token);
        await WaitUntilAsync(async () => await DoneAsync() == 200, TimeSpan.FromSeconds(60), "all 200 jobs");
        await stop.CancelAsync();
        await processor;

        var order = (await redis.Connection.GetDatabase().ListRangeAsync(SinkHandler.Order(Sink))).Select(v => (string)v!);
        Assert.Equal(expected.OrderByDescending(e => e.Priority).ThenBy(e => e.Index).Select(e => e.Id), order);
    }

    [Fact]
    public async Task AWorkerKilledMidJobThreeTimesLosesNothingAndItsJobsRerunOnlyAfterTheirLease()
    {
        const int count = 3000;
        var visibility = TimeSpan.FromSeconds(3);
        var jobs = Queue(redis.Connection, _queue);
        for (var i = 0; i < count; i += 100)
        {
            await Task.WhenAll(Enumerable.Range(i, 100).Select(j => jobs.EnqueueAsync(new EnqueueRequest(_queue, "sink", $"{{\"i\":{j}}}"))));
        }
        using var stop = new CancellationTokenSource();
        var processor = Processor(jobs, _queue, new SinkHandler(redis.Connection, Sink, TimeSpan.FromMilliseconds(25)), concurrency: 2, visibility)
            .RunAsync(stop.Token);

        var kills = new List<long>();
        var args = new[] { redis.ConnectionString, _queue, Sink, "4", "25", ((long)visibility.TotalMilliseconds).ToString(), "500" };
        for (var k = 0; k < 3; k++)
        {
            using var worker = HarnessProcess.Start("job-worker", args);
            Assert.Equal("READY", await worker.ReadLineAsync(TimeSpan.FromSeconds(30)));
            await Task.Delay(1500);
            worker.Kill(); // SIGKILL mid-job: its leases are left to expire
            kills.Add(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        }
        using var last = HarnessProcess.Start("job-worker", args);
        await WaitUntilAsync(async () => await DoneAsync() == count, TimeSpan.FromMinutes(3), "every job in the sink");
        await stop.CancelAsync();
        await processor;

        var statuses = await Task.WhenAll((await RunsAsync()).Keys.Select(jobs.GetAsync));
        Assert.Equal(count, statuses.Length);
        Assert.All(statuses, s => Assert.Equal(JobState.Completed, s!.State));
        var starts = await StartsAsync();
        var reruns = starts.Keys.Where(k => !k.EndsWith("#1", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(reruns); // the kills hit claimed jobs
        var timed = 0;
        foreach (var rerun in reruns)
        {
            var (id, attempt) = (rerun[..rerun.IndexOf('#')], int.Parse(rerun[(rerun.IndexOf('#') + 1)..]));
            Assert.Contains(kills, kill => kill <= starts[rerun]);
            // A job claimed by the killed worker but not yet started has no start to measure from.
            if (!starts.TryGetValue($"{id}#{attempt - 1}", out var previous))
            {
                continue;
            }
            timed++;
            // The lost run was claimed just before it started and never renewed (25 ms of work, renewal every 1 s):
            // its lease ended a visibility timeout after that claim, and no one may run it before.
            // The margin covers the time from that claim to the handler's start on a loaded machine.
            Assert.True(starts[rerun] - previous >= visibility.TotalMilliseconds - 1000,
                $"{rerun} ran {starts[rerun] - previous} ms after its previous attempt, within its {visibility} lease");
            Assert.Contains(kills, kill => kill >= previous && kill <= starts[rerun]);
        }
        Assert.True(timed > 0, "no killed job had started: the kills did not hit a job mid-run");
    }

    [Fact]
    public async Task AFailingHandlerRetriesWithGrowingDelaysThenIsDeadLetteredAndRetryDeadBringsItBack()
    {
        var jobs = Queue(redis.Connection, _queue, o => (o.FirstBackoff, o.MaxBackoff) = (TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(10)));
        var handler = new FailingHandler();
        using var stop = new CancellationTokenSource();
        var processor = Processor(jobs, _queue, handler, concurrency: 2).RunAsync(stop.Token);

        var id = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "fails", "{}", MaxAttempts: 4))).JobId;
        await WaitUntilAsync(async () => (await jobs.GetAsync(id))!.State == JobState.Dead, TimeSpan.FromSeconds(30), "the job to die");

        var dead = (await jobs.GetAsync(id))!;
        Assert.Equal(4, dead.Attempts);
        Assert.Contains("attempt 4 failed", dead.Error);
        Assert.Equal(1, (await jobs.GetCountsAsync(_queue)).Dead);
        var runs = handler.Starts.ToArray();
        Assert.Equal(4, runs.Length);
        var gaps = runs.Zip(runs.Skip(1), (a, b) => (b - a).TotalMilliseconds).ToArray();
        // Delay before attempt n+1: between half and all of 400 ms * 2^(n-1), on Redis's clock: never earlier.
        Assert.True(gaps[0] >= 200 - 5 && gaps[1] >= 400 - 5 && gaps[2] >= 800 - 5, $"gaps {string.Join(", ", gaps)} ms");
        Assert.True(gaps[2] > gaps[0], $"gaps {string.Join(", ", gaps)} ms do not grow");

        handler.Succeed = true;
        Assert.Equal(1, await jobs.RetryDeadAsync(_queue));
        await WaitUntilAsync(async () => (await jobs.GetAsync(id))!.State == JobState.Completed, TimeSpan.FromSeconds(30), "the retried job to complete");
        Assert.Equal(1, (await jobs.GetAsync(id))!.Attempts);
        Assert.Equal(new QueueCounts(_queue, 0, 0, 0, 0), await jobs.GetCountsAsync(_queue));
        await stop.CancelAsync();
        await processor;
    }

    [Fact]
    public async Task DeadJobsAreListedOldestDeathFirstWithTheirLastErrorAndOneIsRetriedAlone()
    {
        var jobs = Queue(redis.Connection, _queue);
        var handler = new FailingHandler();
        using var stop = new CancellationTokenSource();
        var processor = Processor(jobs, _queue, handler, concurrency: 1).RunAsync(stop.Token);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await jobs.EnqueueAsync(new EnqueueRequest(_queue, $"fails-{i}", "{}", MaxAttempts: 1))).JobId);
            await WaitUntilAsync(async () => (await jobs.GetAsync(ids[^1]))!.State == JobState.Dead, TimeSpan.FromSeconds(30), $"job {i} to die");
        }

        var dead = await jobs.ListDeadAsync(_queue, limit: 2);
        Assert.Equal(3, dead.Total);
        Assert.Equal(ids[..2], dead.Jobs.Select(j => j.Id));
        Assert.Equal(["fails-0", "fails-1"], dead.Jobs.Select(j => j.Type));
        Assert.All(dead.Jobs, j => Assert.Equal(("InvalidOperationException: attempt 1 failed", 1, 1), (j.Error, j.Attempts, j.MaxAttempts)));
        Assert.True(dead.Jobs[0].DiedAt <= dead.Jobs[1].DiedAt && dead.Jobs[0].DiedAt > DateTimeOffset.UtcNow.AddMinutes(-1));

        handler.Succeed = true;
        Assert.Equal(1, await jobs.RetryDeadAsync(_queue, ids[1]));
        Assert.Equal(0, await jobs.RetryDeadAsync(_queue, ids[1])); // no longer dead: nothing to retry
        await WaitUntilAsync(async () => (await jobs.GetAsync(ids[1]))!.State == JobState.Completed, TimeSpan.FromSeconds(30), "the retried job to complete");
        Assert.Equal([ids[0], ids[2]], (await jobs.ListDeadAsync(_queue)).Jobs.Select(j => j.Id));
        Assert.Equal(2, (await jobs.GetCountsAsync(_queue)).Dead);
        await stop.CancelAsync();
        await processor;
    }

    [Fact]
    public async Task IdleWorkersAreWokenByEachEnqueueThatFindsThemWaitingNotByTheirIdlePoll()
    {
        var jobs = Queue(redis.Connection, _queue);
        var handler = new NoOpHandler(6);
        using var stop = new CancellationTokenSource();
        // Two workers that would sleep 60 s between claims if no doorbell rang.
        var workers = Enumerable.Range(0, 2).Select(_ => new JobProcessor(jobs, handler, new JobProcessorOptions
        {
            Queue = _queue, Concurrency = 1, IdlePoll = TimeSpan.FromSeconds(60), VisibilityTimeout = TimeSpan.FromSeconds(5),
        }, NullLogger.Instance).RunAsync(stop.Token)).ToList();

        for (var round = 1; round <= 3; round++)
        {
            await Task.Delay(500); // both have claimed nothing and sleep
            await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}"));
            await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}"));
            await WaitUntilAsync(() => Task.FromResult(handler.Runs == 2 * round), TimeSpan.FromSeconds(10), $"round {round}'s two jobs to run");
        }
        await stop.CancelAsync();
        await Task.WhenAll(workers);

        Assert.Equal(new QueueCounts(_queue, 0, 0, 0, 0), await jobs.GetCountsAsync(_queue));
    }

    [Fact]
    public async Task AJobThatLostItsLeaseCannotCompleteOrRenewButItsNewHolderCan()
    {
        var jobs = Queue(redis.Connection, _queue);
        var keys = new JobKeys(_queue);
        var db = redis.Connection.GetDatabase();
        var id = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}"))).JobId;

        var first = await ClaimAsync(db, keys, 1, 300, "first");
        Assert.Equal(id, (string)first[3]!);
        await Task.Delay(600); // the lease ends; the reaper requeues the job and another worker claims it
        var reaped = (long[])(await JobQueue.Reap.EvaluateAsync(db, keys.All, [keys.Prefix, "test", 1, 1000, keys.Doorbell]))!;
        Assert.Equal(new long[] { 1, 0, 0, 0 }, reaped);
        var second = await ClaimAsync(db, keys, 1, 5000, "second");
        Assert.Equal(id, (string)second[3]!);

        Assert.Equal(0, (long)(await CompleteAsync(db, keys, id, (string)first[4]!, "late", claim: 0))[1]);
        var renewed = (long[])(await JobQueue.Heartbeat.EvaluateAsync(db, keys.All, [keys.Prefix, 5000, id, (string)first[4]!]))!;
        Assert.Equal(new long[] { 0 }, renewed);
        var failed = (long[])(await JobQueue.Fail.EvaluateAsync(db, keys.All, [keys.Prefix, id, (string)first[4]!, "late", 1, 100, 1000, 0.5, 60000]))!;
        Assert.Equal(new long[] { 0 }, failed);
        var status = (await jobs.GetAsync(id))!;
        Assert.Equal((JobState.Active, 2), (status.State, status.Attempts));

        Assert.Equal(1, (long)(await CompleteAsync(db, keys, id, (string)second[4]!, "{\"ok\":true}", claim: 0))[1]);
        status = (await jobs.GetAsync(id))!;
        Assert.Equal((JobState.Completed, "{\"ok\":true}"), (status.State, status.Result));
        Assert.InRange((await db.KeyTimeToLiveAsync(keys.Job(id)))!.Value, TimeSpan.FromSeconds(50), TimeSpan.FromSeconds(60)); // retention
    }

    /// <summary>
    /// A lease that ended while the reaping worker could not reach Redis (a failover, a restart) ended because renewals and
    /// outcomes could not get through: the job goes back with its attempt not counted, even on its last one. Without
    /// that word from the caller, the lost attempt counts (a crashed worker).
    /// </summary>
    [Fact]
    public async Task ALeaseThatEndedDuringAnOutageIsRequeuedWithItsAttemptNotCountedEvenOnItsLastAttempt()
    {
        var jobs = Queue(redis.Connection, _queue);
        var keys = new JobKeys(_queue);
        var db = redis.Connection.GetDatabase();
        async Task<long[]> ReapAsync(int outage)
        {
            await Task.Delay(50); // past the previous pass's guard (1 ms)
            return (long[])(await JobQueue.Reap.EvaluateAsync(db, keys.All, [keys.Prefix, "test", 1, 1000, keys.Doorbell, outage]))!;
        }

        var crashed = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}", MaxAttempts: 1))).JobId;
        Assert.Equal(crashed, (string)(await ClaimAsync(db, keys, 1, 300, "crashed"))[3]!);
        await Task.Delay(400);
        Assert.Equal(new long[] { 0, 1, 0, 0 }, await ReapAsync(outage: 0));
        Assert.Equal((JobState.Dead, 1), ((await jobs.GetAsync(crashed))!.State, (await jobs.GetAsync(crashed))!.Attempts));

        var cutOff = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}", MaxAttempts: 1))).JobId;
        Assert.Equal(cutOff, (string)(await ClaimAsync(db, keys, 1, 300, "cut-off"))[3]!);
        await Task.Delay(400);
        Assert.Equal(new long[] { 1, 0, 0, 1 }, await ReapAsync(outage: 1));
        var status = (await jobs.GetAsync(cutOff))!;
        Assert.Equal((JobState.Pending, 0), (status.State, status.Attempts));
        var again = await ClaimAsync(db, keys, 1, 5000, "again");
        Assert.Equal((cutOff, 1L), ((string)again[3]!, (long)again[7]));
    }

    /// <summary>claim.lua naming no job: { next due, '', orphans, 10 fields per leased job }.</summary>
    private protected static async Task<RedisResult[]> ClaimAsync(IDatabaseAsync db, JobKeys keys, int count, long leaseMs, string tokenBase) =>
        (RedisResult[])(await JobQueue.Claim.EvaluateAsync(db, keys.All, [keys.Prefix, count, leaseMs, tokenBase, 1000, "", "", "", 0, 0]))!;

    /// <summary>
    /// claim.lua completing a job first, then claiming up to <paramref name="claim"/>: { next due, completion, orphans, 10 fields
    /// per leased job }. <paramref name="callId"/> is the call's id (and its lease tokens' base): a new one unless given.
    /// </summary>
    private protected static async Task<RedisResult[]> CompleteAsync(IDatabaseAsync db, JobKeys keys, string id, string token, string result, int claim,
        string? callId = null) =>
        (RedisResult[])(await JobQueue.Claim.EvaluateAsync(db, keys.All,
            [keys.Prefix, claim, 5000, callId ?? Guid.NewGuid().ToString("N"), 1000, id, token, result, 60000, 0]))!;

    [Fact]
    public async Task ACompletionClaimsTheNextJobInTheSameScriptEvenWhenItsOwnCompletionIsRefusedButNotWhenAskedForNone()
    {
        var jobs = Queue(redis.Connection, _queue);
        var keys = new JobKeys(_queue);
        var db = redis.Connection.GetDatabase();
        var low = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}", Priority: 1))).JobId;
        var high = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}", Priority: 9))).JobId;
        var last = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}"))).JobId;
        var first = await ClaimAsync(db, keys, 1, 5000, "first");
        Assert.Equal((high, 13), ((string)first[3]!, first.Length)); // highest priority first; next due, '', orphans, 10 fields

        // Done with `high`, next please: completed and `low` leased, in one script.
        var done = await CompleteAsync(db, keys, high, (string)first[4]!, "{}", claim: 1, callId: "second");
        Assert.Equal((1L, low, "second:1", 13), ((long)done[1], (string)done[3]!, (string)done[4]!, done.Length));
        Assert.Equal(JobState.Completed, (await jobs.GetAsync(high))!.State);
        var leased = (await jobs.GetAsync(low))!;
        Assert.Equal((JobState.Active, 1), (leased.State, leased.Attempts));
        Assert.Equal(1L, (long)await db.SortedSetLengthAsync(keys.All[0])); // `last` still ready

        // A completion refused (a stale token) still claims: the caller's slot is free either way.
        var refused = await CompleteAsync(db, keys, low, "stale:1", "{}", claim: 1, callId: "third");
        Assert.Equal((0L, last, 13), ((long)refused[1], (string)refused[3]!, refused.Length));
        Assert.Equal(JobState.Active, (await jobs.GetAsync(low))!.State);

        // Claim 0 (a stopping worker): completes, leases nothing, promotes nothing.
        var delayed = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}", Delay: TimeSpan.FromMilliseconds(1)))).JobId;
        await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}"));
        await Task.Delay(50);
        var only = await CompleteAsync(db, keys, low, (string)done[4]!, "{}", claim: 0);
        Assert.Equal((1L, 3), ((long)only[1], only.Length));
        Assert.Equal(JobState.Scheduled, (await jobs.GetAsync(delayed))!.State);
        Assert.Equal(new QueueCounts(_queue, 1, 1, 1, 0), await jobs.GetCountsAsync(_queue)); // `last` is still active
        Assert.Equal(-1L, (long)(await CompleteAsync(db, keys, $"{_queue}-999999", "x", "{}", claim: 0))[1]); // no such job
    }

    [Fact]
    public async Task ABusyWorkerTakesOneRoundTripPerJob()
    {
        const int count = 500;
        var jobs = Queue(redis.Connection, _queue);
        for (var i = 0; i < count; i += 100)
        {
            await Task.WhenAll(Enumerable.Range(i, 100).Select(_ => jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}"))));
        }
        // The processor alone on its own connection: its operation count is its round trips (claims, completions,
        // and a few reaps, depth samples and the doorbell subscription).
        await using var own = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var handler = new NoOpHandler(count);
        using var stop = new CancellationTokenSource();
        var before = own.OperationCount;
        var processor = Processor(Queue(own, _queue), _queue, handler, concurrency: 1).RunAsync(stop.Token);
        await handler.AllRan.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await WaitUntilAsync(async () => (await jobs.GetCountsAsync(_queue)).Active == 0, TimeSpan.FromSeconds(10), "the last completion");
        await stop.CancelAsync();
        await processor;
        var roundTrips = own.OperationCount - before;

        Assert.Equal(count, handler.Runs);
        Assert.Equal(new QueueCounts(_queue, 0, 0, 0, 0), await jobs.GetCountsAsync(_queue));
        // A claim then a completion per job would be 2 per job: completing claims the next job in the same script.
        Assert.True(roundTrips <= count * 1.2, $"{roundTrips} round trips for {count} jobs");
    }

    [Fact]
    public async Task AStoppingProcessorCompletesItsRunningJobButClaimsNoMore()
    {
        var jobs = Queue(redis.Connection, _queue);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}"))).JobId);
        }
        var handler = new GatedHandler();
        using var stop = new CancellationTokenSource();
        var processor = Processor(jobs, _queue, handler, concurrency: 1).RunAsync(stop.Token);
        await handler.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        await stop.CancelAsync(); // stopping while the job runs: its completion must not take the next one
        handler.Gate.SetResult();
        await processor;

        Assert.Equal(1, handler.Runs);
        Assert.Equal(JobState.Completed, (await jobs.GetAsync(ids[0]))!.State);
        foreach (var id in ids.Skip(1))
        {
            var status = (await jobs.GetAsync(id))!;
            Assert.Equal((JobState.Pending, 0), (status.State, status.Attempts));
        }
        Assert.Equal(new QueueCounts(_queue, 2, 0, 0, 0), await jobs.GetCountsAsync(_queue));
    }

    [Fact]
    public async Task ACancelledScheduledJobNeverRuns()
    {
        var jobs = Queue(redis.Connection, _queue);
        var cancelled = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "sink", "{}", Delay: TimeSpan.FromSeconds(1)))).JobId;
        Assert.Equal(JobState.Scheduled, (await jobs.GetAsync(cancelled))!.State);
        Assert.Equal(CancelOutcome.Cancelled, await jobs.CancelAsync(cancelled));

        using var stop = new CancellationTokenSource();
        var processor = Processor(jobs, _queue, new SinkHandler(redis.Connection, Sink, TimeSpan.Zero), concurrency: 2).RunAsync(stop.Token);
        var marker = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "sink", "{}", Delay: TimeSpan.FromSeconds(2)))).JobId;
        await WaitUntilAsync(async () => (await jobs.GetAsync(marker))!.State == JobState.Completed, TimeSpan.FromSeconds(30), "the later job");
        await stop.CancelAsync();
        await processor;

        Assert.Equal([marker], (await redis.Connection.GetDatabase().SetMembersAsync(SinkHandler.Done(Sink))).Select(v => (string)v!));
        Assert.Equal(JobState.Cancelled, (await jobs.GetAsync(cancelled))!.State);
        Assert.Equal(CancelOutcome.NotCancellable, await jobs.CancelAsync(marker));
        Assert.Equal(CancelOutcome.NotFound, await jobs.CancelAsync($"{_queue}-999999"));
        Assert.Equal(new QueueCounts(_queue, 0, 0, 0, 0), await jobs.GetCountsAsync(_queue));
    }

    [Theory]
    [InlineData("queue", "nosuchqueue", "{}", 0, 0)]
    [InlineData("payload", null, "{\"a\":", 0, 0)]
    [InlineData("payload", null, "not json", 0, 0)]
    [InlineData("payload", null, "BIG", 0, 0)]
    [InlineData("delay", null, "{}", -1, 0)]
    [InlineData("priority", null, "{}", 0, -1)]
    [InlineData("priority", null, "{}", 0, 1_000_001)]
    public async Task BadInputIsRefusedWithAClearErrorAndEnqueuesNothing(string field, string? queue, string payload, int delayMs, int priority)
    {
        var jobs = Queue(redis.Connection, _queue, o => o.MaxPayloadBytes = 1024);
        var request = new EnqueueRequest(queue ?? _queue, "t", payload == "BIG" ? $"\"{new string('x', 1024)}\"" : payload,
            Priority: priority, Delay: TimeSpan.FromMilliseconds(delayMs));

        var error = await Assert.ThrowsAsync<JobValidationException>(() => jobs.EnqueueAsync(request));

        Assert.Equal(field, error.Field);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
        Assert.Equal(new QueueCounts(_queue, 0, 0, 0, 0), await jobs.GetCountsAsync(_queue));
        Assert.False(await redis.Connection.GetDatabase().KeyExistsAsync(new JobKeys(_queue).All[4])); // no id was even taken
    }

    [Fact]
    public async Task ASecondEnqueueWithTheSameIdempotencyKeyReturnsTheFirstJob()
    {
        var jobs = Queue(redis.Connection, _queue);
        var first = await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}", IdempotencyKey: "order-42"));
        var again = await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{\"other\":1}", IdempotencyKey: "order-42"));

        Assert.True(first.Created);
        Assert.Equal(new EnqueueResult(first.JobId, false), again);
        Assert.Equal(1, (await jobs.GetCountsAsync(_queue)).Ready);
    }

    [Fact]
    public async Task OnShutdownRunningJobsFinishWithinTheGracePeriodAndTheRestAreReleasedUncounted()
    {
        var jobs = Queue(redis.Connection, _queue);
        var quick = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{\"ms\":800}"))).JobId;
        var slow = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{\"ms\":60000}"))).JobId;
        var handler = new SleepingHandler();
        using var stop = new CancellationTokenSource();
        var processor = Processor(jobs, _queue, handler, concurrency: 2, grace: TimeSpan.FromSeconds(2)).RunAsync(stop.Token);
        await WaitUntilAsync(() => Task.FromResult(handler.Started == 2), TimeSpan.FromSeconds(10), "both jobs to start");

        var stopping = Stopwatch.StartNew();
        await stop.CancelAsync();
        await processor;

        Assert.InRange(stopping.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(6));
        Assert.Equal(JobState.Completed, (await jobs.GetAsync(quick))!.State);
        var released = (await jobs.GetAsync(slow))!;
        Assert.Equal((JobState.Pending, 0), (released.State, released.Attempts));
        Assert.Equal(new QueueCounts(_queue, 1, 0, 0, 0), await jobs.GetCountsAsync(_queue));
    }

    [Fact]
    public async Task TheHandlerContinuesTheEnqueuersTrace()
    {
        using var source = new ActivitySource("Platform.Tests.Jobs");
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is JobTelemetry.Name or "Platform.Tests.Jobs",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        var jobs = Queue(redis.Connection, _queue);
        var handler = new TraceCapturingHandler();

        ActivityTraceId traceId;
        using (var request = source.StartActivity("request"))
        {
            traceId = request!.TraceId;
            await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}"));
        }
        using var stop = new CancellationTokenSource();
        var processor = Processor(jobs, _queue, handler, concurrency: 1).RunAsync(stop.Token);
        var seen = await handler.Seen.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await stop.CancelAsync();
        await processor;

        Assert.Equal(traceId, seen.TraceId);
        Assert.Equal($"job process {_queue}", seen.DisplayName);
    }

    [Fact]
    public async Task EnqueuedCompletedFailedDurationAndDepthAreMeasuredPerQueue()
    {
        var measured = new ConcurrentQueue<(string Instrument, double Value, string? Outcome, string? State)>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == JobTelemetry.Name)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        void Record(System.Diagnostics.Metrics.Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string? Tag(string name, ReadOnlySpan<KeyValuePair<string, object?>> all)
            {
                foreach (var tag in all)
                {
                    if (tag.Key == name)
                    {
                        return tag.Value?.ToString();
                    }
                }
                return null;
            }
            if (Tag("queue", tags) == _queue)
            {
                measured.Enqueue((instrument.Name, value, Tag("outcome", tags), Tag("state", tags)));
            }
        }
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.Start();

        var jobs = Queue(redis.Connection, _queue);
        var ids = new List<string>();
        foreach (var ms in new[] { 0, 0, 0, -1 })
        {
            ids.Add((await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", $"{{\"ms\":{ms}}}"))).JobId);
        }
        using var stop = new CancellationTokenSource();
        var processor = Processor(jobs, _queue, new SleepingHandler(), concurrency: 2).RunAsync(stop.Token);
        await WaitUntilAsync(async () => (await Task.WhenAll(ids.Select(jobs.GetAsync))).All(j => j!.State is JobState.Completed or JobState.Failed),
            TimeSpan.FromSeconds(30), "the four jobs to finish");
        await Task.Delay(1500); // a reaper tick samples the queue depth
        listener.RecordObservableInstruments();
        await stop.CancelAsync();
        await processor;

        var all = measured.ToArray();
        Assert.Equal(4, all.Where(m => m.Instrument == "jobs.enqueued").Sum(m => m.Value));
        Assert.Equal(3, all.Where(m => m.Instrument == "jobs.completed").Sum(m => m.Value));
        Assert.Equal(1, all.Where(m => m.Instrument == "jobs.failed" && m.Outcome == "failed").Sum(m => m.Value));
        Assert.Equal(["completed", "completed", "completed", "failed"], all.Where(m => m.Instrument == "jobs.duration").Select(m => m.Outcome).Order());
        Assert.Equal(["active", "dead", "ready", "scheduled"], all.Where(m => m.Instrument == "jobs.queue.depth" && m.Value == 0).Select(m => m.State).Distinct().Order());
    }

    private sealed class NoOpHandler(int expected) : IJobHandler
    {
        private int _runs;
        public int Runs => _runs;
        public TaskCompletionSource AllRan { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _runs) == expected)
            {
                AllRan.TrySetResult();
            }
            return Task.FromResult<string?>(null);
        }
    }

    /// <summary>The first job waits for the gate; any other job returns at once.</summary>
    private sealed class GatedHandler : IJobHandler
    {
        private int _runs;
        public int Runs => _runs;
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _runs) == 1)
            {
                Started.SetResult();
                await Gate.Task;
            }
            return null;
        }
    }

    private sealed class CountingHandler(IJobHandler inner) : IJobHandler
    {
        private int _count;
        public int Count => _count;

        public Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _count);
            return inner.HandleAsync(job, cancellationToken);
        }
    }

    private sealed class FailingHandler : IJobHandler
    {
        public ConcurrentQueue<DateTime> Starts { get; } = new();
        public volatile bool Succeed;

        public Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
        {
            if (Succeed)
            {
                return Task.FromResult<string?>(null);
            }
            Starts.Enqueue(DateTime.UtcNow);
            throw new InvalidOperationException($"attempt {job.Attempt} failed");
        }
    }

    private sealed class SleepingHandler : IJobHandler
    {
        private int _started;
        public int Started => _started;

        public async Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _started);
            var ms = System.Text.Json.JsonDocument.Parse(job.Payload).RootElement.GetProperty("ms").GetInt32();
            if (ms < 0)
            {
                throw new PermanentJobFailureException("a negative duration can never work");
            }
            await Task.Delay(ms, cancellationToken);
            return null;
        }
    }

    private sealed class TraceCapturingHandler : IJobHandler
    {
        public TaskCompletionSource<Activity> Seen { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
        {
            Seen.TrySetResult(Activity.Current!);
            return Task.FromResult<string?>(null);
        }
    }
}

public sealed class JobStatusJsonTests
{
    [Fact]
    public void StatesAreWrittenAsTheLowercaseNamesRedisStores()
    {
        Assert.Equal("\"retrying\"", System.Text.Json.JsonSerializer.Serialize(JobState.Retrying));
        Assert.Equal(JobState.Dead, System.Text.Json.JsonSerializer.Deserialize<JobState>("\"dead\""));
    }
}
