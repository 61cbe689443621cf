using System.Text.Json;
using Platform.Jobs;

namespace Api.Outbox;

/// <summary>
/// Something to send to Redis once the transaction that wrote it commits: a job to enqueue, or a notification to
/// publish. Written in the same transaction as the change it announces, so both commit or neither does;
/// deleted once sent. Each is idempotent to send again (the job's idempotency key, the notification's dedupe key),
/// because a process can die between sending and deleting.
/// </summary>
public sealed class OutboxMessage
{
    public const string JobKind = "job";
    public const string NotificationKind = "notification";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public long Id { get; set; }
    /// <summary><see cref="JobKind"/> or <see cref="NotificationKind"/>.</summary>
    public required string Kind { get; set; }
    /// <summary>The <see cref="EnqueueRequest"/> or <see cref="OutboxNotification"/>, as JSON.</summary>
    public required string Payload { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>Failed sends so far; the dispatcher tries again at its next pass (unless the message is parked).</summary>
    public int Attempts { get; set; }
    public string? LastError { get; set; }
    /// <summary>
    /// When Redis refused the message for good (a job its queue rejects, a message that cannot be read): it is no longer
    /// sent and no longer holds up the messages after it; an operator lists it and sends it again once the cause is fixed
    /// (<c>/api/admin/outbox</c>). Null while the message waits to be sent.
    /// </summary>
    public DateTimeOffset? ParkedAt { get; set; }

    /// <summary>A job to enqueue; it must carry an idempotency key, so a second send finds the first job.</summary>
    public static OutboxMessage Job(EnqueueRequest request)
    {
        ArgumentException.ThrowIfNullOrEmpty(request.IdempotencyKey, "request.IdempotencyKey");
        return new() { Kind = JobKind, Payload = JsonSerializer.Serialize(request, Json), CreatedAt = DateTimeOffset.UtcNow };
    }

    /// <summary>A notification to publish once (its dedupe key makes a second send return the first event).</summary>
    public static OutboxMessage Notification(string channel, object payload, string dedupeKey) => new()
    {
        Kind = NotificationKind,
        Payload = JsonSerializer.Serialize(new OutboxNotification(channel, JsonSerializer.SerializeToElement(payload, payload.GetType(), Json), dedupeKey), Json),
        CreatedAt = DateTimeOffset.UtcNow,
    };

    internal EnqueueRequest ReadJob() => JsonSerializer.Deserialize<EnqueueRequest>(Payload, Json)!;
    internal OutboxNotification ReadNotification() => JsonSerializer.Deserialize<OutboxNotification>(Payload, Json)!;
}

/// <summary>A notification waiting in the outbox.</summary>
public sealed record OutboxNotification(string Channel, JsonElement Payload, string DedupeKey);
