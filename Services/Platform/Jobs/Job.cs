using System.Text.Json.Serialization;

namespace Platform.Jobs;

/// <summary>What to enqueue. <paramref name="Payload"/> is JSON.</summary>
/// <param name="Priority">0 (default) to <see cref="JobQueueOptions.MaxPriority"/>; higher runs first, FIFO within a priority.</param>
/// <param name="Delay">Not run before this much time has passed (on Redis's clock). Null or zero: ready now.</param>
/// <param name="MaxAttempts">Attempts before the dead letter set; null: <see cref="JobQueueOptions.DefaultMaxAttempts"/>.</param>
/// <param name="IdempotencyKey">Enqueueing again with the same key returns the first job's id and enqueues nothing.</param>
public sealed record EnqueueRequest(
    string Queue,
    string Type,
    string Payload,
    int Priority = 0,
    TimeSpan? Delay = null,
    int? MaxAttempts = null,
    string? IdempotencyKey = null);

/// <summary>The answer to an enqueue: the job's id, and false when an idempotency key returned an existing job.</summary>
public sealed record EnqueueResult(string JobId, bool Created);

/// <summary>Where a job is in its life. In JSON: <c>"pending"</c>, <c>"scheduled"</c>, ... (the names Redis stores).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<JobState>))]
public enum JobState
{
    /// <summary>Ready, waiting for a worker.</summary>
    [JsonStringEnumMemberName("pending")]
    Pending,
    /// <summary>Delayed: not due yet.</summary>
    [JsonStringEnumMemberName("scheduled")]
    Scheduled,
    /// <summary>Held by a worker under a lease.</summary>
    [JsonStringEnumMemberName("active")]
    Active,
    /// <summary>Failed an attempt; waiting out its backoff before the next.</summary>
    [JsonStringEnumMemberName("retrying")]
    Retrying,
    [JsonStringEnumMemberName("completed")]
    Completed,
    /// <summary>The handler failed it permanently (<see cref="PermanentJobFailureException"/>): no retry.</summary>
    [JsonStringEnumMemberName("failed")]
    Failed,
    /// <summary>Out of attempts; in the dead letter set until retried or cancelled.</summary>
    [JsonStringEnumMemberName("dead")]
    Dead,
    [JsonStringEnumMemberName("cancelled")]
    Cancelled,
}

/// <summary>A job as <c>GET /api/jobs/{id}</c> shows it. Times are Redis's clock.</summary>
public sealed record JobStatus(
    string Id,
    string Queue,
    string Type,
    JobState State,
    int Priority,
    int Attempts,
    int MaxAttempts,
    string? Error,
    string? Result,
    DateTimeOffset EnqueuedAt,
    DateTimeOffset? DueAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt);

/// <summary>How many jobs a queue holds in each place.</summary>
public sealed record QueueCounts(string Queue, long Ready, long Scheduled, long Active, long Dead);

/// <summary>A dead-lettered job as an operator sees it: what it was, how often it ran, and its last error.</summary>
public sealed record DeadJob(string Id, string Type, int Attempts, int MaxAttempts, string? Error, DateTimeOffset DiedAt);

/// <summary>The oldest dead jobs of a queue (<see cref="Jobs"/>) and how many are dead in all (<see cref="Total"/>).</summary>
public sealed record DeadJobs(string Queue, long Total, IReadOnlyList<DeadJob> Jobs);

/// <summary>What the outcome of <see cref="JobQueue.CancelAsync"/> was.</summary>
public enum CancelOutcome
{
    Cancelled,
    NotFound,
    /// <summary>Running, or already finished: nothing changed.</summary>
    NotCancellable,
}
