namespace Platform.Jobs;

/// <summary>
/// Runs jobs of one queue. Delivery is at least once: a job whose worker crashed runs again after its lease, so
/// make the effect idempotent (keyed by <see cref="JobContext.Id"/>). Return a JSON result (or null) to complete;
/// throw to fail the attempt (retried with backoff, then dead letter); throw
/// <see cref="PermanentJobFailureException"/> to fail for good; throw <see cref="JobDeferredException"/> to run it later
/// without counting the attempt. <paramref name="cancellationToken"/> fires when the
/// lease is lost or the worker is shutting down past its grace period: stop then.
/// </summary>
public interface IJobHandler
{
    Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken);
}

/// <summary>A claimed job as its handler sees it.</summary>
/// <param name="Attempt">1 on the first run; counts runs whose lease ended without an outcome too (not deferrals).</param>
/// <param name="Deferrals">How often a handler deferred this job before (<see cref="JobDeferredException"/>).</param>
public sealed record JobContext(string Id, string Queue, string Type, string Payload, int Attempt, int MaxAttempts, DateTimeOffset EnqueuedAt,
    int Deferrals = 0);
