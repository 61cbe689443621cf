using System.Collections.Concurrent;
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
    private readonly ConcurrentDictionary<string, JobKeys> _keys = new();

    internal IConnectionMultiplexer Redis => redis;
    internal JobQueueOptions Options => _options;
    internal JobTelemetry Telemetry => telemetry;

    public IReadOnlyList<string> Queues => _options.Queues;

    /// <summary>Jobs one <see cref="EnqueueManyAsync"/> call takes at most.</summary>
    public const int MaxBatchSize = 1000;

    /// <summary>
    /// Enqueues a job, carrying the current trace context with it. Throws <see cref="JobValidationException"/> (and
    /// enqueues nothing) for an unknown queue, a payload that is not JSON or is too large, or an option out of range.
    /// </summary>
    public async Task<EnqueueResult> EnqueueAsync(EnqueueRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Validate(request);
        return (await EnqueueBatchAsync(request.Queue, [request]))[0];
    }

    /// <summary>
    /// Enqueues jobs for one queue in one round trip (one script, one doorbell ring), in order, each exactly as
    /// <see cref="EnqueueAsync"/> would: the same validation, the same idempotency (a key that repeats within the batch
    /// returns the job its first occurrence created). All or nothing on bad input: if any job is invalid, or the jobs
    /// name more than one queue, or there are more than <see cref="MaxBatchSize"/>, it throws
    /// <see cref="JobValidationException"/> (its message names the job's index) and enqueues none of them.
    /// Returns one result per job, in the order given.
    /// </summary>
    public async Task<IReadOnlyList<EnqueueResult>> EnqueueManyAsync(IReadOnlyList<EnqueueRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        if (requests.Count == 0)
        {
            return [];
        }
        if (requests.Count > MaxBatchSize)
        {
            throw new JobValidationException("jobs", $"A batch holds at most {MaxBatchSize} jobs; got {requests.Count}. Split it.");
        }
        var queue = requests[0]?.Queue;
        for (var i = 0; i < requests.Count; i++)
        {
            var request = requests[i] ?? throw new JobValidationException("jobs", $"Job {i} of the batch is null.");
            if (request.Queue != queue)
            {
                throw new JobValidationException("queue", $"Job {i} of the batch is for queue '{request.Queue}', job 0 for '{queue}': a batch goes to one queue.");
            }
            try
            {
                Validate(request);
            }
            catch (JobValidationException e)
            {
                throw new JobValidationException(e.Field, $"Job {i} of the batch: {e.Message} Nothing was enqueued.");
            }
        }
        return await EnqueueBatchAsync(queue!, requests);
    }

    private async Task<EnqueueResult[]> EnqueueBatchAsync(string queue, IReadOnlyList<EnqueueRequest> requests)
    {
        var keys = KeysOf(queue);
        using var span = JobTelemetry.Source.StartActivity($"job enqueue {queue}", ActivityKind.Producer);
        span?.SetTag("messaging.system", "redis");
        span?.SetTag("messaging.destination.name", queue);
        if (requests.Count == 1)
        {
            span?.SetTag("job.type", requests[0].Type);
        }
        else
        {
            span?.SetTag("messaging.batch.message_count", requests.Count);
        }
        var context = span ?? Activity.Current;

        var args = new RedisValue[EnqueueFixedArgs + EnqueueArgsPerJob * requests.Count];
        args[0] = keys.Prefix;
        args[1] = queue;
        args[2] = keys.Doorbell;
        args[3] = JobQueueOptions.MaxPriority;
        // Unique, not secret: an epoch only has to differ from the queue's earlier ones, so no CSPRNG call per enqueue.
        args[4] = ((uint)Random.Shared.NextInt64(1L << 32)).ToString("x8", CultureInfo.InvariantCulture);
        args[5] = context?.Id ?? "";
        args[6] = context?.TraceStateString ?? "";
        var at = EnqueueFixedArgs;
        foreach (var request in requests)
        {
            args[at++] = request.Type;
            args[at++] = request.Payload;
            args[at++] = request.Priority;
            args[at++] = (long)(request.Delay ?? TimeSpan.Zero).TotalMilliseconds;
            args[at++] = request.MaxAttempts ?? _options.DefaultMaxAttempts;
            args[at++] = request.IdempotencyKey ?? "";
        }
        var reply = (RedisResult[])(await Enqueue.EvaluateAsync(redis.GetDatabase(), keys.All, args))!;

        var results = new EnqueueResult[requests.Count];
        var created = 0;
        for (var i = 0; i < results.Length; i++)
        {
            results[i] = new EnqueueResult((string)reply[2 * i]!, (long)reply[2 * i + 1] == 1);
            created += results[i].Created ? 1 : 0;
        }
        if (requests.Count == 1)
        {
            span?.SetTag("job.id", results[0].JobId);
        }
        if (_options.EnqueueReplicas > 0)
        {
            // One WAIT covers the whole batch: it was one script, so one write stream on one master.
            await WaitForReplicasAsync(keys.All[0], requests.Count == 1 ? results[0].JobId : $"{results[0].JobId}..{results[^1].JobId}");
        }
        if (created > 0)
        {
            telemetry.Enqueued.Add(created, new KeyValuePair<string, object?>("queue", queue));
        }
        return results;
    }

    // enqueue.lua's ARGV: 7 for the call, then 6 per job.
    private const int EnqueueFixedArgs = 7;
    private const int EnqueueArgsPerJob = 6;

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
        // enqueue.lua stores dueAt for a delayed job only: a ready one was due when it was enqueued.
        return new JobStatus(jobId, queue, Text("type") ?? "", Enum.Parse<JobState>(Text("state") ?? "pending", ignoreCase: true),
            Int("priority"), Int("attempts"), Int("maxAttempts"), Text("error"), Text("result"),
            Time("enqueuedAt") ?? default, Time("dueAt") ?? Time("enqueuedAt"), Time("startedAt"), Time("finishedAt"));
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
        return _keys.GetOrAdd(queue, q => new JobKeys(q));
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
