using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Platform.Redis;
using StackExchange.Redis;

namespace Platform.Jobs;

/// <summary>
/// A Redis job queue: priorities, delays, leases with token-checked completion, retries with backoff, a dead letter
/// set and crash recovery. Every operation is one Lua script (one round trip) on Redis's clock. This class is what
/// producers and operators use (enqueue, status, counts, cancel, retry dead); <see cref="JobProcessor"/> runs jobs.
/// </summary>
public sealed class JobQueue(IConnectionMultiplexer redis, IOptions<JobQueueOptions> options, JobTelemetry telemetry)
{
    private static readonly RedisScript Enqueue = Script("enqueue.lua");
    internal static readonly RedisScript Claim = Script("claim.lua");
    internal static readonly RedisScript Heartbeat = Script("heartbeat.lua");
    internal static readonly RedisScript Fail = Script("fail.lua");
    internal static readonly RedisScript Release = Script("release.lua");
    internal static readonly RedisScript Reap = Script("reap.lua");
    private static readonly RedisScript Cancel = Script("cancel.lua");
    private static readonly RedisScript RetryDead = Script("retry-dead.lua");
    private static readonly RedisScript Counts = Script("counts.lua");
    private static readonly RedisScript ListDead = Script("list-dead.lua");

    private readonly JobQueueOptions _options = options.Value;

    internal IConnectionMultiplexer Redis => redis;
    internal JobQueueOptions Options => _options;
    internal JobTelemetry Telemetry => telemetry;

    public IReadOnlyList<string> Queues => _options.Queues;

    /// <summary>
    /// Enqueues a job, carrying the current trace context with it. Throws <see cref="JobValidationException"/> (and
    /// enqueues nothing) for an unknown queue, a payload that is not JSON or is too large, or an option out of range.
    /// </summary>
    public async Task<EnqueueResult> EnqueueAsync(EnqueueRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Validate(request);
        var keys = KeysOf(request.Queue);

        using var span = JobTelemetry.Source.StartActivity($"job enqueue {request.Queue}", ActivityKind.Producer);
        span?.SetTag("messaging.system", "redis");
        span?.SetTag("messaging.destination.name", request.Queue);
        span?.SetTag("job.type", request.Type);
        var context = span ?? Activity.Current;
        var result = (RedisResult[])(await Enqueue.EvaluateAsync(redis.GetDatabase(), keys.All,
        [
            keys.Prefix, request.Queue, request.Type, request.Payload, request.Priority,
            (long)(request.Delay ?? TimeSpan.Zero).TotalMilliseconds, request.MaxAttempts ?? _options.DefaultMaxAttempts,
            request.IdempotencyKey ?? "", context?.Id ?? "", context?.TraceStateString ?? "", keys.Doorbell,
            JobQueueOptions.MaxPriority, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(JobKeys.EpochLength / 2)),
        ]))!;
        var enqueued = new EnqueueResult((string)result[0]!, (long)result[1] == 1);
        span?.SetTag("job.id", enqueued.JobId);
        if (_options.EnqueueReplicas > 0)
        {
            await WaitForReplicasAsync(keys.All[0], enqueued.JobId);
        }
        if (enqueued.Created)
        {
            telemetry.Enqueued.Add(1, new KeyValuePair<string, object?>("queue", request.Queue));
        }
        return enqueued;
    }

    /// <summary>
    /// WAIT on the master that took the enqueue, over the same connection (WAIT counts the replicas holding every write
    /// of its own connection; the multiplexer has one per server): a keyless command sent to the database would go to
    /// any node.
    /// </summary>
    private async Task WaitForReplicasAsync(RedisKey queueKey, string jobId)
    {
        var master = await redis.GetDatabase().IdentifyEndpointAsync(queueKey)
            ?? throw new RedisConnectionException(ConnectionFailureType.UnableToResolvePhysicalConnection, $"No server serves {queueKey}.");
        var replicas = (long)await redis.GetServer(master).ExecuteAsync("WAIT",
            _options.EnqueueReplicas, (long)_options.EnqueueReplicaTimeout.TotalMilliseconds);
        if (replicas < _options.EnqueueReplicas)
        {
            throw new JobNotReplicatedException(
                $"Job {jobId} was stored on {master} but {replicas} of {_options.EnqueueReplicas} replicas confirmed it within " +
                $"{_options.EnqueueReplicaTimeout.TotalMilliseconds} ms; retry with the same idempotency key.");
        }
    }

    /// <summary>A job's status, or null if there is no such job (never was, or past its retention).</summary>
    public async Task<JobStatus?> GetAsync(string jobId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(jobId);
        if (JobKeys.QueueOf(jobId) is not { } queue || !_options.Queues.Contains(queue))
        {
            return null;
        }
        var fields = (await redis.GetDatabase().HashGetAllAsync(new JobKeys(queue).Job(jobId)))
            .ToDictionary(e => (string)e.Name!, e => (string?)e.Value);
        if (fields.Count == 0)
        {
            return null;
        }
        string? Text(string name) => fields.TryGetValue(name, out var v) && !string.IsNullOrEmpty(v) ? v : null;
        int Int(string name) => int.Parse(Text(name) ?? "0", CultureInfo.InvariantCulture);
        DateTimeOffset? Time(string name) => Text(name) is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(ms, CultureInfo.InvariantCulture)) : null;
        return new JobStatus(jobId, queue, Text("type") ?? "", Enum.Parse<JobState>(Text("state") ?? "pending", ignoreCase: true),
            Int("priority"), Int("attempts"), Int("maxAttempts"), Text("error"), Text("result"),
            Time("enqueuedAt") ?? default, Time("dueAt"), Time("startedAt"), Time("finishedAt"));
    }

    /// <summary>Ready, scheduled, active and dead counts of one queue, as one consistent snapshot.</summary>
    public async Task<QueueCounts> GetCountsAsync(string queue)
    {
        var keys = KeysOf(queue);
        var c = (long[])(await Counts.EvaluateAsync(redis.GetDatabase(), keys.All, []))!;
        return new QueueCounts(queue, c[0], c[1], c[2], c[3]);
    }

    /// <summary>Cancels a job that is not running (pending, scheduled, retrying or dead): it will never run.</summary>
    public async Task<CancelOutcome> CancelAsync(string jobId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(jobId);
        if (JobKeys.QueueOf(jobId) is not { } queue || !_options.Queues.Contains(queue))
        {
            return CancelOutcome.NotFound;
        }
        var keys = new JobKeys(queue);
        var result = (RedisResult[])(await Cancel.EvaluateAsync(redis.GetDatabase(), keys.All,
            [keys.Prefix, jobId, RetentionMs]))!;
        return (long)result[0] switch { 1 => CancelOutcome.Cancelled, -1 => CancelOutcome.NotFound, _ => CancelOutcome.NotCancellable };
    }

    /// <summary>
    /// The oldest <paramref name="limit"/> dead jobs of <paramref name="queue"/> (oldest death first), each with its
    /// last error, and how many are dead in all: one consistent snapshot.
    /// </summary>
    public async Task<DeadJobs> ListDeadAsync(string queue, int limit = 100)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var keys = KeysOf(queue);
        var reply = (RedisResult[])(await ListDead.EvaluateAsync(redis.GetDatabase(), keys.All, [keys.Prefix, limit]))!;
        var jobs = reply.Skip(1).Select(r => (RedisValue[])r!).Select(f => new DeadJob((string)f[0]!, (string)f[1]!,
            (int)f[2], (int)f[3], f[4].IsNullOrEmpty ? null : (string)f[4]!, DateTimeOffset.FromUnixTimeMilliseconds((long)f[5])));
        return new DeadJobs(queue, (long)reply[0], [.. jobs]);
    }

    /// <summary>Moves dead jobs of <paramref name="queue"/> back to ready with fresh attempts (one job if <paramref name="jobId"/> is given). Returns how many.</summary>
    public async Task<long> RetryDeadAsync(string queue, string? jobId = null)
    {
        var keys = KeysOf(queue);
        const int batch = 1000;
        long total = 0;
        while (true)
        {
            var moved = (long)await RetryDead.EvaluateAsync(redis.GetDatabase(), keys.All, [keys.Prefix, batch, keys.Doorbell, jobId ?? ""]);
            total += moved;
            if (moved < batch || jobId is not null)
            {
                return total;
            }
        }
    }

    internal long RetentionMs => (long)_options.Retention.TotalMilliseconds;

    internal JobKeys KeysOf(string queue)
    {
        if (string.IsNullOrEmpty(queue) || !_options.Queues.Contains(queue))
        {
            throw new JobValidationException("queue", $"Unknown queue '{queue}'. Queues: {string.Join(", ", _options.Queues)}.");
        }
        return new JobKeys(queue);
    }

    private void Validate(EnqueueRequest request)
    {
        KeysOf(request.Queue);
        if (string.IsNullOrWhiteSpace(request.Type) || request.Type.Length > 200)
        {
            throw new JobValidationException("type", "The job type is required (at most 200 characters).");
        }
        if (request.Payload is null || Encoding.UTF8.GetByteCount(request.Payload) > _options.MaxPayloadBytes)
        {
            throw new JobValidationException("payload", $"The payload is required and at most {_options.MaxPayloadBytes} bytes of JSON.");
        }
        try
        {
            using var _ = JsonDocument.Parse(request.Payload);
        }
        catch (JsonException e)
        {
            throw new JobValidationException("payload", $"The payload is not valid JSON: {e.Message}");
        }
        if (request.Priority is < 0 or > JobQueueOptions.MaxPriority)
        {
            throw new JobValidationException("priority", $"Priority must be between 0 and {JobQueueOptions.MaxPriority}; got {request.Priority}.");
        }
        if (request.Delay is { } delay && (delay < TimeSpan.Zero || delay > _options.MaxDelay))
        {
            throw new JobValidationException("delay", $"Delay must be between 0 and {_options.MaxDelay}; got {delay}.");
        }
        if (request.MaxAttempts is < 1 or > 100)
        {
            throw new JobValidationException("maxAttempts", $"Max attempts must be between 1 and 100; got {request.MaxAttempts}.");
        }
        if (request.IdempotencyKey is { } key && (key.Length is 0 or > 200))
        {
            throw new JobValidationException("idempotencyKey", "An idempotency key must be 1 to 200 characters.");
        }
    }

    private static RedisScript Script(string name) => RedisScript.FromResource<JobQueue>(name);

    internal static string NewTokenBase() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
}
