using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging.Abstractions;
using Platform.Jobs;
using Platform.Locking;
using Platform.Redis;
using Platform.Tests.Redis;
using StackExchange.Redis;

namespace Platform.Tests.Jobs;

[Collection(RedisCollection.Name)]
public sealed class JobQueueFaultsOnRedisServer(RedisServerFixture redis) : JobQueueFaultTests(redis);

[Collection(GarnetCollection.Name)]
public sealed class JobQueueFaultsOnGarnet(GarnetServerFixture garnet) : JobQueueFaultTests(garnet);

/// <summary>The queue under the faults production has: a stalled link, a lost reply, a job hash that disappeared.</summary>
public abstract class JobQueueFaultTests(RedisServerFixture redis)
{
    private readonly string _queue = $"q{Guid.NewGuid():N}";

    /// <summary>claim.lua; <paramref name="retry"/>: the call was sent before (its reply lost), so it looks for the stored answer.</summary>
    private static async Task<RedisResult[]> ClaimAsync(IDatabaseAsync db, JobKeys keys, int count, long leaseMs, string callId,
        string complete = "", string token = "", bool retry = false) =>
        (RedisResult[])(await JobQueue.Claim.EvaluateAsync(db, keys.All,
            [keys.Prefix, count, leaseMs, callId, 1000, complete, token, "{}", 60000, retry ? 1 : 0]))!;

    [Fact]
    public async Task OrphanIdsInReadyScheduledAndActiveAreRemovedAndCountedWhileEveryOtherJobRuns()
    {
        using var orphans = new OrphanCounter(_queue);
        var jobs = JobQueueTests.Queue(redis.Connection, _queue);
        var keys = new JobKeys(_queue);
        var db = redis.Connection.GetDatabase();
        var active = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "sink", "{}", Priority: 9))).JobId;
        Assert.Equal(active, (string)(await ClaimAsync(db, keys, 1, 300, "stalled-worker"))[3]!);
        var ready = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "sink", "{}", Priority: 9))).JobId;
        var partial = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "sink", "{}", Priority: 9))).JobId;
        var scheduled = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "sink", "{}", Delay: TimeSpan.FromMilliseconds(100)))).JobId;
        var good = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            good.Add((await jobs.EnqueueAsync(new EnqueueRequest(_queue, "sink", "{}", Delay: i % 5 == 0 ? TimeSpan.FromMilliseconds(150) : null))).JobId);
        }
        // The hashes disappear (DEL by hand, an eviction); one is left partial, as an old claim's HINCRBY re-created it.
        await db.KeyDeleteAsync([keys.Job(active), keys.Job(ready), keys.Job(partial), keys.Job(scheduled)]);
        await db.HashSetAsync(keys.Job(partial), "attempts", 1);
        await Task.Delay(400); // the scheduled ones are due, the active one's lease has ended

        using var stop = new CancellationTokenSource();
        var processor = JobQueueTests.Processor(jobs, _queue, new SinkHandler(redis.Connection, _queue, TimeSpan.Zero), concurrency: 2)
            .RunAsync(stop.Token);
        await JobQueueTests.WaitUntilAsync(async () => (await Task.WhenAll(good.Select(jobs.GetAsync))).All(s => s!.State == JobState.Completed),
            TimeSpan.FromSeconds(30), "every job that has its hash to complete");
        await JobQueueTests.WaitUntilAsync(() => Task.FromResult(orphans.Total == 4), TimeSpan.FromSeconds(10), "the four orphans to be counted");

        Assert.Equal(new Dictionary<string, long> { ["claim"] = 3, ["reap"] = 1 }, orphans.ByWhere);
        foreach (var orphan in new[] { active, ready, partial, scheduled })
        {
            Assert.False(await db.KeyExistsAsync(keys.Job(orphan)), $"{orphan}'s partial hash was left");
            foreach (var set in keys.All[..4])
            {
                Assert.Null(await db.SortedSetScoreAsync(set, orphan));
            }
        }
        Assert.False(processor.IsCompleted, "the processor stopped");
        var after = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "sink", "{}"))).JobId;
        await JobQueueTests.WaitUntilAsync(async () => (await jobs.GetAsync(after))!.State == JobState.Completed, TimeSpan.FromSeconds(10), "a later job");
        Assert.Equal(new QueueCounts(_queue, 0, 0, 0, 0), await jobs.GetCountsAsync(_queue));
        await stop.CancelAsync();
        await processor;
    }

    [Fact]
    public async Task ACompleteAndClaimOrAClaimSentAgainAfterItsReplyWasLostGetsTheFirstAnswerAndStrandsNothing()
    {
        var jobs = JobQueueTests.Queue(redis.Connection, _queue);
        var keys = new JobKeys(_queue);
        var db = redis.Connection.GetDatabase();
        var first = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}", Priority: 3, MaxAttempts: 1))).JobId;
        var second = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}", Priority: 2, MaxAttempts: 1))).JobId;
        var third = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}", Priority: 1, MaxAttempts: 1))).JobId;
        var claimed = await ClaimAsync(db, keys, 1, 5000, "claim-1");
        Assert.Equal(claimed.Select(r => r.ToString()), (await ClaimAsync(db, keys, 1, 5000, "claim-1", retry: true)).Select(r => r.ToString()));
        Assert.Equal(first, (string)claimed[3]!);

        // "Done with the first, next please"; the reply is lost, so the worker sends the same call again.
        var done = await ClaimAsync(db, keys, 1, 5000, "call-2", complete: first, token: (string)claimed[4]!);
        var again = await ClaimAsync(db, keys, 1, 5000, "call-2", complete: first, token: (string)claimed[4]!, retry: true);

        Assert.Equal(done.Select(r => r.ToString()), again.Select(r => r.ToString()));
        Assert.Equal((1L, second), ((long)again[1], (string)again[3]!)); // the completion as it was, the job it leased
        Assert.Equal(JobState.Completed, (await jobs.GetAsync(first))!.State);
        var leased = (await jobs.GetAsync(second))!;
        Assert.Equal((JobState.Active, 1), (leased.State, leased.Attempts)); // leased once, no attempt burnt
        var waiting = (await jobs.GetAsync(third))!;
        Assert.Equal((JobState.Pending, 0), (waiting.State, waiting.Attempts)); // not leased to nobody
        Assert.Equal(new QueueCounts(_queue, 1, 0, 1, 0), await jobs.GetCountsAsync(_queue));

        // A replay renews the leases it hands back; a job no longer held under its token (taken back, leased again)
        // is left out of it: its lease is gone, the caller must not run it.
        var leaseEnd = await db.SortedSetScoreAsync(keys.All[2], second);
        await Task.Delay(20);
        var renewed = await ClaimAsync(db, keys, 1, 5000, "call-2", complete: first, token: (string)claimed[4]!, retry: true);
        Assert.Equal(again.Select(r => r.ToString()), renewed.Select(r => r.ToString()));
        Assert.True(await db.SortedSetScoreAsync(keys.All[2], second) > leaseEnd, "the replay did not renew the lease it handed back");
        await db.HashSetAsync(keys.Job(second), "token", "a-later-lease:1");
        var gone = await ClaimAsync(db, keys, 1, 5000, "call-2", complete: first, token: (string)claimed[4]!, retry: true);
        Assert.Equal(again.Take(3).Select(r => r.ToString()), gone.Select(r => r.ToString()));
    }

    [Fact]
    public async Task AWorkerWhoseCompleteAndClaimReplyIsLostStrandsNoJobAndBurnsNoAttempt()
    {
        await using var proxy = StallingProxy.Start(redis.Server);
        await using var lossy = await proxy.ConnectAsync(timeoutMs: 300);
        var jobs = JobQueueTests.Queue(redis.Connection, _queue);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}", Priority: 3 - i, MaxAttempts: 1))).JobId);
        }
        // The first job's "done, next please" runs on the server, but its reply (and the retries') is held for 1.5 s.
        var handler = new ReplyLosingHandler(proxy, ids[0], TimeSpan.FromMilliseconds(1500));
        using var stop = new CancellationTokenSource();
        var processor = JobQueueTests.Processor(JobQueueTests.Queue(lossy, _queue), _queue, handler, concurrency: 1).RunAsync(stop.Token);

        await JobQueueTests.WaitUntilAsync(async () => (await Task.WhenAll(ids.Select(jobs.GetAsync))).All(s => s!.State is not (JobState.Pending or JobState.Active)),
            TimeSpan.FromSeconds(30), "the three jobs to finish");
        await stop.CancelAsync();
        await processor;

        var statuses = await Task.WhenAll(ids.Select(jobs.GetAsync));
        Assert.All(statuses, s => Assert.Equal((JobState.Completed, 1), (s!.State, s.Attempts))); // none stranded, reaped or dead
        Assert.Equal(ids, handler.Ran);
        Assert.Equal(new QueueCounts(_queue, 0, 0, 0, 0), await jobs.GetCountsAsync(_queue));
    }

    [Fact]
    public async Task AClaimHeldInAStalledLinkCountsItsLeaseFromTheSendThatGotTheAnswer()
    {
        // A claim goes into a link that holds it for most of a lease; when the link flows again the claim runs (its
        // lease starts then) and the resend gets its answer. Counted from the first send, the lease was nearly over on
        // arrival: the job's run was cancelled while the server still held the lease, which then ran out with its
        // attempt counted (CI: a job dead-lettered through a failover, whose claim ran on the new master).
        await using var proxy = StallingProxy.Start(redis.Server);
        await using var stalling = await proxy.ConnectAsync(timeoutMs: 300);
        var lease = TimeSpan.FromSeconds(15);
        var jobs = JobQueueTests.Queue(stalling, _queue);
        var id = (await JobQueueTests.Queue(redis.Connection, _queue).EnqueueAsync(new EnqueueRequest(_queue, "t", "{}", MaxAttempts: 1))).JobId;
        var call = new ClaimCall(new ProcessorContext(jobs, new JobProcessorOptions { Queue = _queue, VisibilityTimeout = lease }, NullLogger.Instance), 1);

        proxy.Stall();
        var firstSent = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<TimeoutException>(call.SendAsync); // held in the link: a timeout
        await Task.Delay(TimeSpan.FromSeconds(6) - firstSent.Elapsed);
        proxy.Resume(); // the first send runs now: its lease ends 15 s from here
        ClaimCall.Reply? reply = null;
        for (var waited = Stopwatch.StartNew(); reply is null; await Task.Delay(100))
        {
            try
            {
                reply = await call.SendAsync(); // the stored answer, once the client has its connection back
            }
            catch (Exception e) when (e is RedisException or TimeoutException && waited.Elapsed < TimeSpan.FromSeconds(8))
            {
            }
        }
        var job = Assert.Single(reply.Jobs());
        var serverLeaseLeft = (long)(await redis.Connection.GetDatabase().ScriptEvaluateAsync(
            "local t = redis.call('TIME') return redis.call('ZSCORE', KEYS[1], ARGV[1]) - (t[1] * 1000 + math.floor(t[2] / 1000))",
            [new JobKeys(_queue).All[2]], [id]));

        Assert.Equal(id, job.Id);
        Assert.Equal(1, job.Context.Attempt);
        // Counted from the resend (at least 6 s after the first): most of the lease is left, as on the server, and the
        // worker's deadline still comes first.
        // (Counted from the first send, at most 15 - 1 - 6 = 8 s could be left.)
        Assert.True(job.LeaseLeft > lease - LeaseDeadline.MarginOf(lease) - TimeSpan.FromSeconds(3),
            $"{job.LeaseLeft.TotalSeconds:F1} s left of the job's lease, {firstSent.Elapsed.TotalSeconds:F1} s after the claim was first sent");
        Assert.True(job.LeaseLeft.TotalMilliseconds < serverLeaseLeft, $"the worker counts {job.LeaseLeft.TotalMilliseconds} ms, the server {serverLeaseLeft} ms");
        await job.DisposeAsync();
    }

    [Fact]
    public async Task AJobWhoseLinkStallsIsCancelledBeforeAnotherWorkerCanClaimIt()
    {
        await using var proxy = StallingProxy.Start(redis.Server);
        await using var stalling = await proxy.ConnectAsync(timeoutMs: 300);
        var jobs = JobQueueTests.Queue(redis.Connection, _queue);
        var keys = new JobKeys(_queue);
        var db = redis.Connection.GetDatabase();
        var handler = new HoldingHandler();
        using var stop = new CancellationTokenSource();
        var processor = JobQueueTests.Processor(JobQueueTests.Queue(stalling, _queue), _queue, handler, concurrency: 1,
            visibility: TimeSpan.FromSeconds(3)).RunAsync(stop.Token);
        var id = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}"))).JobId;
        await handler.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(1300); // a renewal succeeds at 1 s

        proxy.Stall();
        // Another worker reaps the job the moment the server's lease ends, and claims it at once.
        var waited = Stopwatch.StartNew();
        while (true)
        {
            await JobQueue.Reap.EvaluateAsync(db, keys.All, [keys.Prefix, "other", 1, 1000, keys.Doorbell]);
            var taken = await ClaimAsync(db, keys, 1, 5000, Guid.NewGuid().ToString("N"));
            if (taken.Length > 3)
            {
                Assert.Equal(id, (string)taken[3]!);
                break;
            }
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), "the stalled job was never reaped");
            await Task.Delay(10);
        }
        var claimedAt = handler.Clock.Elapsed;

        Assert.True(handler.Cancelled.Task.IsCompleted, "the first run was still going when another worker claimed its job");
        Assert.True(await handler.Cancelled.Task < claimedAt);
        proxy.Resume();
        await stop.CancelAsync();
        await processor.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task AJobWhoseLockReleaseTimesOutIsCompletedNotRetried()
    {
        await using var proxy = StallingProxy.Start(redis.Server);
        await using var stalling = await proxy.ConnectAsync(timeoutMs: 1000); // the acquire must not time out on a loaded machine
        var locks = new RedisDistributedLock(stalling, TestMeters.Factory, NullLogger<RedisDistributedLock>.Instance);
        var handler = new StallBeforeReleaseHandler(locks, $"lock-{_queue}", proxy);
        var jobs = JobQueueTests.Queue(redis.Connection, _queue);
        using var stop = new CancellationTokenSource();
        var processor = JobQueueTests.Processor(jobs, _queue, handler, concurrency: 1).RunAsync(stop.Token);
        var id = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}"))).JobId;

        await JobQueueTests.WaitUntilAsync(async () => (await jobs.GetAsync(id))!.State is not (JobState.Pending or JobState.Active),
            TimeSpan.FromSeconds(30), "the job to finish its attempt");
        proxy.Resume();
        await stop.CancelAsync();
        await processor;

        var status = (await jobs.GetAsync(id))!;
        Assert.Equal((JobState.Completed, 1, "{\"ok\":true}"), (status.State, status.Attempts, status.Result));
        Assert.Equal(1, handler.Runs);
    }

    /// <summary>
    /// A handler whose own Redis call meets an outage (here: unreachable, three runs in a row) did not fail: its job is
    /// retried with backoff, its attempt not counted, so even a job allowed one attempt completes.
    /// </summary>
    [Fact]
    public async Task AHandlersRedisOutageRetriesItsJobWithoutCountingAnAttempt()
    {
        var handler = new OutageHandler(outages: 3);
        var jobs = JobQueueTests.Queue(redis.Connection, _queue);
        using var stop = new CancellationTokenSource();
        var processor = JobQueueTests.Processor(jobs, _queue, handler, concurrency: 1).RunAsync(stop.Token);
        var id = (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "t", "{}", MaxAttempts: 1))).JobId;

        await JobQueueTests.WaitUntilAsync(async () => (await jobs.GetAsync(id))!.State is JobState.Completed or JobState.Dead or JobState.Failed,
            TimeSpan.FromSeconds(30), "the job to finish");
        await stop.CancelAsync();
        await processor.WaitAsync(TimeSpan.FromSeconds(30));

        var status = (await jobs.GetAsync(id))!;
        Assert.Equal((JobState.Completed, 1), (status.State, status.Attempts));
        Assert.Equal([(1, 0), (1, 1), (1, 2), (1, 3)], handler.Runs);
    }

    /// <summary>Its Redis is unreachable on the first <paramref name="outages"/> runs; records each run's attempt and deferrals.</summary>
    private sealed class OutageHandler(int outages) : IJobHandler
    {
        private readonly ConcurrentQueue<(int Attempt, int Deferrals)> _runs = new();
        public (int, int)[] Runs => [.. _runs];

        public Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
        {
            _runs.Enqueue((job.Attempt, job.Deferrals));
            return _runs.Count <= outages
                ? throw new RedisConnectionException(ConnectionFailureType.SocketFailure, "No connection is active/available to service this operation")
                : Task.FromResult<string?>("{}");
        }
    }

    /// <summary>Runs until cancelled, noting when (on its own clock).</summary>
    private sealed class HoldingHandler : IJobHandler
    {
        public Stopwatch Clock { get; } = Stopwatch.StartNew();
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource<TimeSpan> Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
        {
            Started.TrySetResult();
            using var noted = cancellationToken.Register(() => Cancelled.TrySetResult(Clock.Elapsed));
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return null;
        }
    }

    /// <summary>Records the jobs it runs; finishing <paramref name="lossyJob"/>, it holds the server's replies for a while.</summary>
    private sealed class ReplyLosingHandler(StallingProxy proxy, string lossyJob, TimeSpan hold) : IJobHandler
    {
        private readonly ConcurrentQueue<string> _ran = new();
        public string[] Ran => [.. _ran];

        public Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
        {
            _ran.Enqueue(job.Id);
            if (job.Id == lossyJob)
            {
                proxy.StallReplies();
                _ = Task.Delay(hold, CancellationToken.None).ContinueWith(_ => proxy.Resume(), TaskScheduler.Default);
            }
            return Task.FromResult<string?>(null);
        }
    }

    /// <summary>Works under a lock whose link to Redis stalls before the release: the release times out.</summary>
    private sealed class StallBeforeReleaseHandler(IDistributedLock locks, string name, StallingProxy proxy) : IJobHandler
    {
        private int _runs;
        public int Runs => _runs;

        public async Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _runs);
            await using var held = await locks.TryAcquireAsync(name, TimeSpan.FromSeconds(5), TimeSpan.Zero, cancellationToken)
                ?? throw new InvalidOperationException("the lock was not free");
            proxy.Stall();
            return "{\"ok\":true}";
        }
    }

    /// <summary>The <c>jobs.orphans</c> counter of one queue, by where the orphans were found.</summary>
    private sealed class OrphanCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<string, long> _byWhere = new();

        public OrphanCounter(string queue)
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == JobTelemetry.Name && instrument.Name == "jobs.orphans")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                string? where = null, of = null;
                foreach (var tag in tags)
                {
                    (where, of) = tag.Key switch { "where" => (tag.Value as string, of), "queue" => (where, tag.Value as string), _ => (where, of) };
                }
                if (of == queue && where is not null)
                {
                    _byWhere.AddOrUpdate(where, value, (_, sum) => sum + value);
                }
            });
            _listener.Start();
        }

        public long Total => _byWhere.Values.Sum();
        public Dictionary<string, long> ByWhere => new(_byWhere);

        public void Dispose() => _listener.Dispose();
    }
}

/// <summary>Job ids across a Redis that lost its data (restarted without persistence), on each server kind.</summary>
public sealed class JobIdsAcrossDataLossOnRedisServer() : JobIdsAcrossDataLossTests(RedisServerKind.RedisServer);

public sealed class JobIdsAcrossDataLossOnGarnet() : JobIdsAcrossDataLossTests(RedisServerKind.Garnet);

public abstract class JobIdsAcrossDataLossTests(RedisServerKind kind)
{
    [Fact]
    public async Task JobIdsNeverRepeatAfterRedisRestartsWithoutItsDataAndAnOldIdFindsNoNewJob()
    {
        var queue = $"q{Guid.NewGuid():N}";
        await using var server = await RedisServerProcess.StartNewAsync(kind);
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"{server.ConnectionString},abortConnect=false");
        var jobs = JobQueueTests.Queue(connection, queue);
        var before = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            before.Add((await jobs.EnqueueAsync(new EnqueueRequest(queue, "deploy", "{\"projectId\":\"1\"}"))).JobId);
        }

        await server.KillAsync(); // no persistence: everything is gone
        await server.StartAsync();
        var after = new List<string>();
        var waited = Stopwatch.StartNew();
        while (after.Count < 3)
        {
            try
            {
                after.Add((await jobs.EnqueueAsync(new EnqueueRequest(queue, "deploy", "{\"projectId\":\"2\"}"))).JobId);
            }
            catch (RedisConnectionException) when (waited.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(100); // still reconnecting
            }
        }

        Assert.Empty(before.Intersect(after));
        Assert.All(before.Concat(after), id => Assert.Equal(queue, JobKeys.QueueOf(id)));
        // An id kept from before (in a deployment row) never comes to name another project's job.
        Assert.All(await Task.WhenAll(before.Select(jobs.GetAsync)), Assert.Null);
    }
}
