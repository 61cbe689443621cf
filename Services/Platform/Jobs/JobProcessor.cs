using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Platform.Jobs;

/// <summary>
/// Runs one queue's jobs in this process, up to <see cref="JobProcessorOptions.Concurrency"/> at once: claims as
/// many as it has free slots in one script, renews the leases of running jobs in one script per renewal round,
/// completes or fails each with its lease token, and offers to reap expired leases. Unless stopping, a completion
/// claims the next job for the slot it frees in the same script: one round trip per job while the queue is busy.
/// Sleeps when idle until the enqueue doorbell rings, the next scheduled job is due, or
/// <see cref="JobProcessorOptions.IdlePoll"/> passes.
/// Host-agnostic: <see cref="RunAsync"/> returns after a graceful stop (see <see cref="JobProcessorService"/>).
/// </summary>
public sealed class JobProcessor
{
    private readonly JobQueue _queue;
    private readonly IJobHandler _handler;
    private readonly JobProcessorOptions _options;
    private readonly ILogger _logger;
    private readonly JobKeys _keys;
    private readonly KeyValuePair<string, object?> _queueTag;
    private readonly ConcurrentDictionary<string, RunningJob> _running = new();
    private readonly Channel<bool> _doorbell = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _abandon = new();
    private readonly string _id = JobQueue.NewTokenBase();

    public JobProcessor(JobQueue queue, IJobHandler handler, JobProcessorOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Concurrency, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.VisibilityTimeout, TimeSpan.FromMilliseconds(300));
        (_queue, _handler, _options, _logger) = (queue, handler, options, logger);
        _keys = queue.KeysOf(options.Queue);
        _queueTag = new("queue", options.Queue);
    }

    /// <summary>Jobs running now.</summary>
    public int Running => _running.Count;

    /// <summary>
    /// Claims and runs jobs until <paramref name="stoppingToken"/> fires; then claims no more, lets running jobs
    /// finish within <see cref="JobProcessorOptions.ShutdownGrace"/>, cancels the rest and releases them to other
    /// workers (their attempt not counted), and returns.
    /// </summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var subscriber = _queue.Redis.GetSubscriber();
        var channel = RedisChannel.Literal(_keys.Doorbell);
        await SubscribeAsync(subscriber, channel, stoppingToken);
        using var housekeeping = new CancellationTokenSource();
        var renewals = RenewLoopAsync(housekeeping.Token);
        var reaper = ReapLoopAsync(housekeeping.Token);
        var slots = new SemaphoreSlim(_options.Concurrency, _options.Concurrency);
        var tasks = new ConcurrentDictionary<Task, bool>();
        try
        {
            await ClaimLoopAsync(slots, tasks, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            await subscriber.UnsubscribeAsync(channel).ContinueWith(_ => { }, TaskScheduler.Default);
            await DrainAsync(tasks.Keys.ToArray());
            await housekeeping.CancelAsync();
            await Task.WhenAll(renewals, reaper);
        }
    }

    private async Task SubscribeAsync(ISubscriber subscriber, RedisChannel channel, CancellationToken stoppingToken)
    {
        // StackExchange.Redis re-subscribes by itself after a reconnect; only the first subscribe needs Redis up.
        for (var delay = 100; ; delay = Math.Min(delay * 2, 2000))
        {
            try
            {
                await subscriber.SubscribeAsync(channel, (_, _) => _doorbell.Writer.TryWrite(true));
                return;
            }
            catch (Exception e) when (IsOutage(e))
            {
                _logger.LogWarning("Cannot subscribe to {Channel}: {Message}; retrying", _keys.Doorbell, e.Message);
                await Task.Delay(delay, stoppingToken);
            }
        }
    }

    private async Task ClaimLoopAsync(SemaphoreSlim slots, ConcurrentDictionary<Task, bool> tasks, CancellationToken stoppingToken)
    {
        var outageDelay = 100;
        while (!stoppingToken.IsCancellationRequested)
        {
            await slots.WaitAsync(stoppingToken);
            var free = 1;
            while (slots.Wait(0))
            {
                free++;
            }

            RedisResult[] claimed;
            var sent = Stopwatch.GetTimestamp();
            try
            {
                claimed = (RedisResult[])(await JobQueue.Claim.EvaluateAsync(_queue.Redis.GetDatabase(), _keys.All,
                    [_keys.Prefix, free, LeaseMs, JobQueue.NewTokenBase(), PromoteAtMost, "", "", "", 0]))!;
                outageDelay = 100;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Never let the loop die: an outage (or anything else) is logged and retried with a growing delay.
                slots.Release(free);
                _logger.Log(IsOutage(e) ? LogLevel.Warning : LogLevel.Error, e, "Cannot claim from {Queue}: {Message}; retrying in {Delay} ms",
                    _options.Queue, e.Message, outageDelay);
                await Task.Delay(outageDelay, stoppingToken);
                outageDelay = Math.Min(outageDelay * 2, 2000);
                continue;
            }

            var jobs = Leased(claimed, sent);
            var count = jobs.Length;
            if (free > count)
            {
                slots.Release(free - count);
            }
            foreach (var job in jobs)
            {
                var task = Task.Run(() => RunSlotAsync(job, slots, stoppingToken), CancellationToken.None);
                tasks[task] = true;
                _ = task.ContinueWith(t => tasks.TryRemove(t, out _), TaskScheduler.Default);
            }

            if (count < free)
            {
                // The queue is empty: sleep until the doorbell, the next due job, or the idle poll.
                var nextDue = (long)claimed[0];
                var sleep = nextDue >= 0 && nextDue < _options.IdlePoll.TotalMilliseconds
                    ? TimeSpan.FromMilliseconds(nextDue) : _options.IdlePoll;
                if (sleep > TimeSpan.Zero)
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    timeout.CancelAfter(sleep);
                    try
                    {
                        await _doorbell.Reader.ReadAsync(timeout.Token);
                    }
                    catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                    {
                    }
                }
            }
        }
    }

    private const int Fields = 9;
    private const int PromoteAtMost = 1000;
    private long LeaseMs => (long)_options.VisibilityTimeout.TotalMilliseconds;

    /// <summary>The jobs a claim.lua answer leased, each registered as running (so renewed) before it is returned.</summary>
    private RunningJob[] Leased(RedisResult[] claimed, long sent)
    {
        var jobs = new RunningJob[(claimed.Length - 2) / Fields];
        for (var i = 0; i < jobs.Length; i++)
        {
            jobs[i] = RunningJob.From(claimed, 2 + i * Fields, _options.Queue, sent, _options.VisibilityTimeout);
            _running[jobs[i].Token] = jobs[i]; // by lease: the same job may come back to this worker after its lease was lost
        }
        return jobs;
    }

    /// <summary>
    /// One slot: runs a job, then the job its completion claimed, and so on while the queue is busy; frees the slot
    /// (for the claim loop) when a completion claims nothing: the queue is empty, the job failed, or this processor stops.
    /// </summary>
    private async Task RunSlotAsync(RunningJob first, SemaphoreSlim slots, CancellationToken stoppingToken)
    {
        try
        {
            for (var job = first; job is not null;)
            {
                job = await RunJobAsync(job, stoppingToken);
            }
        }
        finally
        {
            slots.Release();
        }
    }

    /// <summary>Runs one job and records its outcome; returns the next job its completion claimed, if any.</summary>
    private async Task<RunningJob?> RunJobAsync(RunningJob job, CancellationToken stoppingToken)
    {
        ActivityContext.TryParse(job.TraceParent, job.TraceState, out var parent);
        using var span = JobTelemetry.Source.StartActivity($"job process {_options.Queue}", ActivityKind.Consumer, parent);
        span?.SetTag("messaging.system", "redis");
        span?.SetTag("messaging.destination.name", _options.Queue);
        span?.SetTag("job.id", job.Id);
        span?.SetTag("job.type", job.Context.Type);
        span?.SetTag("job.attempt", job.Context.Attempt);
        var started = Stopwatch.GetTimestamp();
        string outcome;
        RunningJob? next = null;
        try
        {
            (outcome, next) = await RunHandlerAsync(job, span, stoppingToken);
        }
        catch (Exception e) when (job.Lost.IsCancellationRequested || IsOutage(e))
        {
            // The lease was lost, or Redis stayed away past the lease: the reaper gives the job to another run.
            outcome = "lease_lost";
            _logger.LogWarning("Job {JobId} lost its lease: {Message}", job.Id, e.Message);
        }
        catch (Exception e)
        {
            // Recording the outcome failed (not an outage): the lease runs out and the reaper retries the job.
            outcome = "error";
            _logger.LogError(e, "Job {JobId}: could not record its outcome", job.Id);
        }
        finally
        {
            _running.TryRemove(job.Token, out _);
        }
        _queue.Telemetry.Duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, _queueTag, new("outcome", outcome));
        span?.SetTag("job.outcome", outcome);
        if (outcome is "lease_lost" or "error")
        {
            _queue.Telemetry.Failed.Add(1, _queueTag, new("outcome", outcome));
        }
        return next;
    }

    /// <summary>Runs the handler and records its outcome: completed, retrying, dead, failed, released or lease_lost.</summary>
    private async Task<(string Outcome, RunningJob? Next)> RunHandlerAsync(RunningJob job, Activity? span, CancellationToken stoppingToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(job.Lost.Token, _abandon.Token);
        string? result;
        try
        {
            result = await _handler.HandleAsync(job.Context, stop.Token);
        }
        catch (OperationCanceledException) when (_abandon.IsCancellationRequested)
        {
            return (await ReleaseAsync(job) ? "released" : "lease_lost", null);
        }
        catch (Exception e) when (!job.Lost.IsCancellationRequested)
        {
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
            return (await FailAsync(job, e), null);
        }
        return job.Lost.IsCancellationRequested ? ("lease_lost", null) : await CompleteAsync(job, result, stoppingToken);
    }

    /// <summary>Completes the job and, unless this processor is stopping, claims the next one for its slot in the same script.</summary>
    private async Task<(string Outcome, RunningJob? Next)> CompleteAsync(RunningJob job, string? result, CancellationToken stoppingToken)
    {
        var take = stoppingToken.IsCancellationRequested ? 0 : 1;
        var sent = 0L;
        var answer = (RedisResult[])(await UntilLeaseEndsAsync(job, () =>
        {
            sent = Stopwatch.GetTimestamp();
            return JobQueue.Claim.EvaluateAsync(_queue.Redis.GetDatabase(), _keys.All,
                [_keys.Prefix, take, LeaseMs, JobQueue.NewTokenBase(), PromoteAtMost, job.Id, job.Token, result ?? "", _queue.RetentionMs]);
        }))!;
        var next = Leased(answer, sent).SingleOrDefault();
        if ((long)answer[1] != 1)
        {
            _logger.LogWarning("Job {JobId} finished but its lease had been lost: the completion was refused", job.Id);
            return ("lease_lost", next);
        }
        _queue.Telemetry.Completed.Add(1, _queueTag);
        return ("completed", next);
    }

    private async Task<string> FailAsync(RunningJob job, Exception error)
    {
        var permanent = error is PermanentJobFailureException;
        var options = _queue.Options;
        var answer = (RedisResult[])(await UntilLeaseEndsAsync(job, () => JobQueue.Fail.EvaluateAsync(_queue.Redis.GetDatabase(), _keys.All,
        [
            _keys.Prefix, job.Id, job.Token, Truncate($"{error.GetType().Name}: {error.Message}"), permanent ? 0 : 1,
            (long)options.FirstBackoff.TotalMilliseconds, (long)options.MaxBackoff.TotalMilliseconds, Random.Shared.NextDouble(),
            _queue.RetentionMs,
        ])))!;
        if ((long)answer[0] != 1)
        {
            return "lease_lost";
        }
        var state = (string)answer[1]!;
        if (state == "retrying")
        {
            // Wake this worker's claim loop, which may be asleep for an idle poll, so that it sleeps until the retry is due instead.
            _doorbell.Writer.TryWrite(true);
        }
        _queue.Telemetry.Failed.Add(1, _queueTag, new("outcome", state));
        _logger.Log(state == "retrying" ? LogLevel.Information : LogLevel.Warning, error,
            "Job {JobId} attempt {Attempt} of {MaxAttempts} failed: {State}{Retry}", job.Id, job.Context.Attempt, job.Context.MaxAttempts,
            state, state == "retrying" ? $" in {(long)answer[2]} ms" : "");
        return state;
    }

    private async Task<bool> ReleaseAsync(RunningJob job)
    {
        try
        {
            return (long)await JobQueue.Release.EvaluateAsync(_queue.Redis.GetDatabase(), _keys.All,
                [_keys.Prefix, job.Id, job.Token, _keys.Doorbell]) == 1;
        }
        catch (Exception e) when (IsOutage(e))
        {
            return false; // its lease ends and the reaper requeues it
        }
    }

    /// <summary>An outcome is worth retrying through a Redis blip while the lease lasts; after that the reaper decides.</summary>
    private async Task<RedisResult> UntilLeaseEndsAsync(RunningJob job, Func<Task<RedisResult>> call)
    {
        for (var delay = 50; ; delay = Math.Min(delay * 2, 1000))
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (IsOutage(e) && job.LeaseLeft > TimeSpan.FromMilliseconds(delay))
            {
                await Task.Delay(delay);
            }
        }
    }

    private async Task RenewLoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(_options.VisibilityTimeout / 3);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                var jobs = _running.Values.ToArray();
                foreach (var job in jobs.Where(j => j.LeaseLeft <= TimeSpan.Zero))
                {
                    job.Lose();
                }
                foreach (var chunk in jobs.Where(j => !j.Lost.IsCancellationRequested).Chunk(500))
                {
                    var sent = Stopwatch.GetTimestamp();
                    try
                    {
                        var args = new RedisValue[2 + chunk.Length * 2];
                        (args[0], args[1]) = (_keys.Prefix, LeaseMs);
                        for (var i = 0; i < chunk.Length; i++)
                        {
                            (args[2 + 2 * i], args[3 + 2 * i]) = (chunk[i].Id, chunk[i].Token);
                        }
                        var renewed = (long[])(await JobQueue.Heartbeat.EvaluateAsync(_queue.Redis.GetDatabase(), _keys.All, args))!;
                        for (var i = 0; i < chunk.Length; i++)
                        {
                            if (renewed[i] == 1)
                            {
                                chunk[i].Renewed(sent);
                            }
                            else
                            {
                                _logger.LogWarning("Job {JobId} lost its lease (requeued or cancelled): stopping it", chunk[i].Id);
                                chunk[i].Lose();
                            }
                        }
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        _logger.LogWarning("Cannot renew leases on {Queue}: {Message}", _options.Queue, e.Message);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ReapLoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(_options.ReapInterval);
        long? sampled = null;
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                try
                {
                    var reaped = (long[])(await JobQueue.Reap.EvaluateAsync(_queue.Redis.GetDatabase(), _keys.All,
                        [_keys.Prefix, _id, (long)_options.ReapInterval.TotalMilliseconds, 1000, _keys.Doorbell]))!;
                    if (reaped[0] > 0 || reaped[1] > 0)
                    {
                        _logger.LogWarning("Recovered {Requeued} job(s) of {Queue} whose lease expired; {Dead} were on their last attempt (dead letter)",
                            reaped[0], _options.Queue, reaped[1]);
                    }
                    if (sampled is not { } last || Stopwatch.GetElapsedTime(last) >= _options.DepthSampleInterval)
                    {
                        sampled = Stopwatch.GetTimestamp();
                        _queue.Telemetry.ReportCounts(await _queue.GetCountsAsync(_options.Queue));
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _logger.LogWarning("Reaper of {Queue} skipped: {Message}", _options.Queue, e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task DrainAsync(Task[] running)
    {
        if (running.Length == 0)
        {
            return;
        }
        _logger.LogInformation("Stopping {Queue}: waiting up to {Grace} for {Count} running job(s)", _options.Queue, _options.ShutdownGrace, running.Length);
        var all = Task.WhenAll(running);
        if (await Task.WhenAny(all, Task.Delay(_options.ShutdownGrace)) == all)
        {
            return;
        }
        // Past the grace period: cancel the handlers; each releases its job as it stops. A handler that ignores
        // cancellation gets a moment more, then its job is released from here (its completion will be refused).
        await _abandon.CancelAsync();
        if (await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(2))) != all)
        {
            foreach (var job in _running.Values)
            {
                job.Lose();
                await ReleaseAsync(job);
            }
        }
    }

    private static string Truncate(string text) => text.Length <= 2000 ? text : text[..2000];

    /// <summary>Redis is away, or back but still loading its data (LOADING): worth retrying.</summary>
    private static bool IsOutage(Exception e) => e is RedisConnectionException or RedisTimeoutException
        || (e is RedisServerException && e.Message.StartsWith("LOADING", StringComparison.Ordinal))
        || (e.InnerException is { } inner && IsOutage(inner));

    /// <summary>A claimed job, its lease token, and when its lease ends by this process's reckoning.</summary>
    private sealed class RunningJob
    {
        private long _leaseStart;
        private readonly TimeSpan _lease;

        private RunningJob(JobContext context, string token, string traceParent, string traceState, long leaseStart, TimeSpan lease)
        {
            (Context, Token, TraceParent, TraceState, _leaseStart, _lease) = (context, token, traceParent, traceState, leaseStart, lease);
        }

        public JobContext Context { get; }
        public string Id => Context.Id;
        public string Token { get; }
        public string TraceParent { get; }
        public string TraceState { get; }
        public CancellationTokenSource Lost { get; } = new();

        /// <summary>Counted from when the claim or renewal was sent, so it never ends later than Redis's lease.</summary>
        public TimeSpan LeaseLeft => _lease - Stopwatch.GetElapsedTime(Volatile.Read(ref _leaseStart));

        public void Renewed(long sent) => Volatile.Write(ref _leaseStart, sent);

        public void Lose()
        {
            try
            {
                Lost.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        public static RunningJob From(RedisResult[] r, int at, string queue, long sent, TimeSpan lease)
        {
            string S(int i) => (string?)r[at + i] ?? "";
            var context = new JobContext(S(0), queue, S(2), S(3), int.Parse(S(4), CultureInfo.InvariantCulture),
                int.Parse(S(5), CultureInfo.InvariantCulture),
                DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(S(8), CultureInfo.InvariantCulture)));
            return new RunningJob(context, S(1), S(6), S(7), sent, lease);
        }
    }
}
