namespace Platform.Jobs;

/// <summary>
/// An enqueue refused before anything reached Redis: unknown queue, bad payload, out-of-range option. The message
/// says what is wrong; <see cref="Field"/> names the field (for a 400 problem+json).
/// </summary>
public sealed class JobValidationException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}

/// <summary>Thrown by a handler to fail a job for good (state <see cref="JobState.Failed"/>): no retry, no dead letter.</summary>
public sealed class PermanentJobFailureException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// An enqueue the queue's master stored but fewer replicas than <see cref="JobQueueOptions.EnqueueReplicas"/> confirmed
/// in time: not acknowledged, it may be lost in a failover. Answered as a Redis outage (503); retrying with the same
/// idempotency key does not enqueue it twice.
/// </summary>
public sealed class JobNotReplicatedException(string message) : Exception(message);
