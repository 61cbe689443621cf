using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Platform.Hosting;

namespace Platform.Jobs;

/// <summary>
/// Runs jobs in a slot: a job, then the job its completion claimed, and so on while the queue is busy. Each job's
/// handler gets a token that fires when its lease is lost or the worker abandons it at shutdown; the outcome is
/// recorded by <see cref="JobOutcomes"/>, and a span and the duration are recorded per attempt.
/// </summary>
internal sealed class JobRunner(ProcessorContext context, LeaseKeeper leases, IJobHandler handler)
{
    private readonly JobOutcomes _outcomes = new(context, leases);

    public JobOutcomes Outcomes => _outcomes;

    /// <summary>Frees the slot (for the claim loop) when a completion claims nothing: the queue is empty, the job failed, or this processor stops.</summary>
    public async Task RunSlotAsync(RunningJob first, SemaphoreSlim slots, CancellationToken stoppingToken)
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

    /// <summary>Runs one job and records its outcome; returns the next job its completion claimed, if any. Never throws.</summary>
    private async Task<RunningJob?> RunJobAsync(RunningJob job, CancellationToken stoppingToken)
    {
        var queue = context.Options.Queue;
        ActivityContext.TryParse(job.TraceParent, job.TraceState, out var parent);
        using var span = JobTelemetry.Source.StartActivity($"job process {queue}", ActivityKind.Consumer, parent);
        span?.SetTag("messaging.system", "redis");
        span?.SetTag("messaging.destination.name", queue);
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
        catch (Exception e) when (job.Lost.IsCancellationRequested || ProcessorContext.IsOutage(e))
        {
            // The lease was lost, or Redis stayed away past the lease: the reaper gives the job to another run.
            outcome = "lease_lost";
            context.Logger.LogWarning("Job {JobId} lost its lease: {Message}", job.Id, e.Message);
        }
        catch (Exception e)
        {
            // Recording the outcome failed (not an outage): the lease runs out and the reaper retries the job.
            outcome = "error";
            context.Logger.LogError(e, "Job {JobId}: could not record its outcome", job.Id);
        }
        finally
        {
            await leases.RemoveAsync(job);
        }
        var telemetry = context.Queue.Telemetry;
        telemetry.Duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, context.QueueTag, new("outcome", outcome));
        span?.SetTag("job.outcome", outcome);
        if (outcome is "lease_lost" or "error")
        {
            telemetry.Failed.Add(1, context.QueueTag, new("outcome", outcome));
        }
        return next;
    }

    /// <summary>Runs the handler and records its outcome: completed, retrying, dead, failed, deferred, outage, released or lease_lost.</summary>
    private async Task<(string Outcome, RunningJob? Next)> RunHandlerAsync(RunningJob job, Activity? span, CancellationToken stoppingToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(job.Lost.Token, context.Abandon.Token);
        string? result;
        try
        {
            result = await handler.HandleAsync(job.Context, stop.Token);
        }
        catch (OperationCanceledException) when (context.Abandon.IsCancellationRequested)
        {
            return (await _outcomes.ReleaseAsync(job) ? "released" : "lease_lost", null);
        }
        catch (JobDeferredException e) when (!job.Lost.IsCancellationRequested)
        {
            return (await _outcomes.DeferAsync(job, e), null);
        }
        catch (Exception e) when (!job.Lost.IsCancellationRequested && RedisOutage.IsOutage(e))
        {
            // The handler's own Redis call met an outage: retried later, its attempt not counted.
            return (await _outcomes.DeferForOutageAsync(job, e), null);
        }
        catch (Exception e) when (!job.Lost.IsCancellationRequested)
        {
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
            return (await _outcomes.FailAsync(job, e), null);
        }
        return job.Lost.IsCancellationRequested ? ("lease_lost", null) : await _outcomes.CompleteAsync(job, result, stoppingToken);
    }
}
