using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Platform.Jobs;

/// <summary>
/// Records how a run ended, each with the job's lease token so that a worker whose lease was lost changes nothing:
/// complete (and claim the next job in the same script), fail (retry later or dead-letter), defer (back to scheduled,
/// the attempt not counted), release (back to ready at shutdown). An outcome is retried through a Redis blip while the
/// lease lasts; completing is idempotent per call, so a retry whose first reply was lost is answered, not redone.
/// </summary>
internal sealed class JobOutcomes(ProcessorContext context, LeaseKeeper leases)
{
    /// <summary>Completes the job and, unless this processor is stopping, claims the next one for its slot in the same script.</summary>
    public async Task<(string Outcome, RunningJob? Next)> CompleteAsync(RunningJob job, string? result, CancellationToken stoppingToken)
    {
        var call = new ClaimCall(context, stoppingToken.IsCancellationRequested ? 0 : 1, job.Id, job.Token, result ?? "");
        var sent = DateTimeOffset.UtcNow;
        var reply = await UntilLeaseEndsAsync(job, call.SendAsync);
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
        var answer = (RedisResult[])(await UntilLeaseEndsAsync(job, () => JobQueue.Fail.EvaluateAsync(context.Db, context.Keys.All,
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
        var released = (long)await UntilLeaseEndsAsync(job, () => JobQueue.Release.EvaluateAsync(context.Db, context.Keys.All,
            [context.Keys.Prefix, job.Id, job.Token, context.Keys.Doorbell, delayMs])) == 1;
        if (!released)
        {
            return "lease_lost";
        }
        context.Logger.LogInformation("Job {JobId} deferred for {Delay} ms: {Reason}", job.Id, delayMs, deferred.Message);
        return "deferred";
    }

    /// <summary>Gives a job back unrun at shutdown, its attempt not counted; false if that failed (its lease then runs out and the reaper requeues it).</summary>
    public async Task<bool> ReleaseAsync(RunningJob job)
    {
        try
        {
            return (long)await JobQueue.Release.EvaluateAsync(context.Db, context.Keys.All,
                [context.Keys.Prefix, job.Id, job.Token, context.Keys.Doorbell, 0]) == 1;
        }
        catch (Exception e) when (ProcessorContext.IsOutage(e))
        {
            return false;
        }
    }

    /// <summary>An outcome is worth retrying through a Redis blip while the lease lasts; after that the reaper decides.</summary>
    private static async Task<T> UntilLeaseEndsAsync<T>(RunningJob job, Func<Task<T>> call)
    {
        for (var delay = 50; ; delay = Math.Min(delay * 2, 1000))
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (ProcessorContext.IsOutage(e) && job.LeaseLeft > TimeSpan.FromMilliseconds(delay))
            {
                await Task.Delay(delay);
            }
        }
    }

    private static string Truncate(string text) => text.Length <= 2000 ? text : text[..2000];
}
