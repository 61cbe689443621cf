using Microsoft.Extensions.Logging;
using Platform.Hosting;
using StackExchange.Redis;

namespace Platform.Jobs;

/// <summary>
/// Records how a run ended, each with the job's lease token so that a worker whose lease was lost changes nothing:
/// complete (and claim the next job in the same script), fail (retry later or dead-letter), defer (back to scheduled,
/// the attempt not counted), release (back to ready at shutdown). An outcome is retried through an outage (a failover,
/// a restart) for as long as it lasts, even past the lease: each is token-checked, so a late one changes nothing once
/// the reaper has taken the job back, and otherwise records what really happened instead of leaving the job to expire.
/// Completing is idempotent per call, so a retry whose first reply was lost is answered, not redone.
/// </summary>
internal sealed class JobOutcomes(ProcessorContext context, LeaseKeeper leases)
{
    /// <summary>Completes the job and, unless this processor is stopping, claims the next one for its slot in the same script.</summary>
    public async Task<(string Outcome, RunningJob? Next)> CompleteAsync(RunningJob job, string? result, CancellationToken stoppingToken)
    {
        var call = new ClaimCall(context, stoppingToken.IsCancellationRequested ? 0 : 1, job.Id, job.Token, result ?? "");
        var sent = DateTimeOffset.UtcNow;
        ClaimCall.Reply reply;
        try
        {
            reply = await UntilLeaseEndsAsync(job, call.SendAsync);
        }
        catch (Exception e) when (ProcessorContext.IsOutage(e) && !context.Abandon.IsCancellationRequested)
        {
            // Past the lease, a job that call leased could no longer be trusted to this worker: complete only, as a
            // new call, for as long as the outage lasts.
            reply = await ThroughOutageAsync(new ClaimCall(context, 0, job.Id, job.Token, result ?? "").SendAsync);
        }
        context.ReportOrphans(reply.Orphans, "claim");
        var next = leases.Register(reply).SingleOrDefault();
        if (next is not null)
        {
            // Leased by this completion (a span of this job's trace): its claim span goes to the next job's trace too.
            JobTelemetry.TraceClaim(context.Options.Queue, [next], sent);
        }
        if (reply.Completion != 1)
        {
            context.Logger.LogWarning("Job {JobId} finished but its lease had been lost: the completion was refused", job.Id);
            return ("lease_lost", next);
        }
        context.Queue.Telemetry.Completed.Add(1, context.QueueTag);
        return ("completed", next);
    }

    public async Task<string> FailAsync(RunningJob job, Exception error)
    {
        var permanent = error is PermanentJobFailureException;
        var options = context.Queue.Options;
        var answer = (RedisResult[])(await ThroughOutageAsync(() => JobQueue.Fail.EvaluateAsync(context.Db, context.Keys.All,
        [
            context.Keys.Prefix, job.Id, job.Token, Truncate($"{error.GetType().Name}: {error.Message}"), permanent ? 0 : 1,
            (long)options.FirstBackoff.TotalMilliseconds, (long)options.MaxBackoff.TotalMilliseconds, Random.Shared.NextDouble(),
            context.Queue.RetentionMs,
        ])))!;
        if ((long)answer[0] != 1)
        {
            return "lease_lost";
        }
        var state = (string)answer[1]!;
        if (state == "retrying")
        {
            // Wake this worker's claim loop, which may be asleep for an idle poll, so that it sleeps until the retry is due instead.
            context.Doorbell.Writer.TryWrite(true);
        }
        context.Queue.Telemetry.Failed.Add(1, context.QueueTag, new("outcome", state));
        context.Logger.Log(state == "retrying" ? LogLevel.Information : LogLevel.Warning, error,
            "Job {JobId} attempt {Attempt} of {MaxAttempts} failed: {State}{Retry}", job.Id, job.Context.Attempt, job.Context.MaxAttempts,
            state, state == "retrying" ? $" in {(long)answer[2]} ms" : "");
        return state;
    }

    /// <summary>The handler cannot run the job yet (e.g. its project's lock is held): scheduled again after the delay, its attempt not counted.</summary>
    public async Task<string> DeferAsync(RunningJob job, JobDeferredException deferred)
    {
        var delayMs = Math.Max(1, (long)deferred.Delay.TotalMilliseconds);
        var released = (long)await ThroughOutageAsync(() => JobQueue.Release.EvaluateAsync(context.Db, context.Keys.All,
            [context.Keys.Prefix, job.Id, job.Token, context.Keys.Doorbell, delayMs])) == 1;
        if (!released)
        {
            return "lease_lost";
        }
        context.Logger.LogInformation("Job {JobId} deferred for {Delay} ms: {Reason}", job.Id, delayMs, deferred.Message);
        return "deferred";
    }

    /// <summary>
    /// The handler's own Redis call met an outage (<see cref="RedisOutage.IsOutage"/>): not the job's fault, so the job
    /// is scheduled again with its attempt not counted (its deferrals are), after a backoff that grows with its
    /// deferrals up to <see cref="JobQueueOptions.MaxBackoff"/>, with jitter.
    /// </summary>
    public async Task<string> DeferForOutageAsync(RunningJob job, Exception outage)
    {
        var options = context.Queue.Options;
        var backoff = Math.Min(options.MaxBackoff.TotalMilliseconds,
            options.FirstBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(job.Context.Deferrals, 30)));
        var delayMs = Math.Max(1, (long)(backoff / 2 + Random.Shared.NextDouble() * backoff / 2));
        var released = (long)await ThroughOutageAsync(() => JobQueue.Release.EvaluateAsync(context.Db, context.Keys.All,
            [context.Keys.Prefix, job.Id, job.Token, context.Keys.Doorbell, delayMs])) == 1;
        if (!released)
        {
            return "lease_lost";
        }
        context.Logger.LogWarning(outage, "Job {JobId} met a Redis outage in its handler: retrying in {Delay} ms, attempt not counted ({Message})",
            job.Id, delayMs, outage.Message);
        return "outage";
    }

    /// <summary>Gives a job back unrun at shutdown, its attempt not counted; false if that failed (its lease then runs out and the reaper requeues it).</summary>
    public async Task<bool> ReleaseAsync(RunningJob job)
    {
        try
        {
            return (long)await JobQueue.Release.EvaluateAsync(context.Db, context.Keys.All,
                [context.Keys.Prefix, job.Id, job.Token, context.Keys.Doorbell, 0]) == 1;
        }
        catch (Exception e) when (context.MetOutage(e))
        {
            return false;
        }
    }

    /// <summary>Retried through an outage while the lease lasts.</summary>
    private async Task<T> UntilLeaseEndsAsync<T>(RunningJob job, Func<Task<T>> call)
    {
        for (var delay = 50; ; delay = Math.Min(delay * 2, 1000))
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (context.MetOutage(e) && job.LeaseLeft > TimeSpan.FromMilliseconds(delay))
            {
                await Task.Delay(delay);
            }
        }
    }

    /// <summary>
    /// Retried through an outage for as long as it lasts: only a token-checked outcome may be, since its lease may
    /// end meanwhile. Given up when the processor abandons its jobs (shutdown past its grace period).
    /// </summary>
    private async Task<T> ThroughOutageAsync<T>(Func<Task<T>> call)
    {
        for (var delay = 50; ; delay = Math.Min(delay * 2, 1000))
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (context.MetOutage(e) && !context.Abandon.IsCancellationRequested)
            {
                await Task.Delay(delay);
            }
        }
    }

    private static string Truncate(string text) => text.Length <= 2000 ? text : text[..2000];
}
