using System.Diagnostics;
using System.Text.Json;
using Platform.Redis;
using StackExchange.Redis;

namespace Platform.Notifications;

/// <summary>
/// Publishes notifications from any service. Each publish is one script (one round trip): the next id of the
/// global sequence, the event appended to its channel's history (the last 100 kept), and PUBLISH to every
/// notifier, atomically. The event carries the publisher's W3C traceparent, so the notifier's delivery span
/// continues this trace. Redis errors are not caught: a request that publishes answers 503 during an outage.
/// </summary>
public sealed class NotificationPublisher(IConnectionMultiplexer redis, NotificationTelemetry telemetry)
{
    private static readonly RedisScript PublishScript = RedisScript.FromResource<NotificationPublisher>("publish.lua", ScriptKeyAccess.DeclaredOnly);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Publishes <paramref name="payload"/> (serialized as camelCase JSON) on a channel of <see cref="NotificationChannels"/>; returns the event id.</summary>
    public async Task<long> PublishAsync(string channel, object payload, CancellationToken cancellationToken = default) =>
        (await PublishOnceAsync(channel, payload, dedupeKey: null, cancellationToken)).Id;

    /// <summary>
    /// Publishes as <see cref="PublishAsync"/> does; with a <paramref name="dedupeKey"/>, a repeat of the same key
    /// (within <see cref="NotificationKeys.DedupeLifetime"/>, while Redis keeps its data) publishes nothing and
    /// returns the first publish's event, so a sender that retries after a crash sends the event once.
    /// </summary>
    public async Task<PublishedNotification> PublishOnceAsync(string channel, object payload, string? dedupeKey, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(payload);
        if (!NotificationChannels.IsKnown(channel))
        {
            throw new ArgumentOutOfRangeException(nameof(channel), channel,
                $"Unknown notification channel. Use one of: {string.Join(", ", NotificationChannels.All)}.");
        }
        cancellationToken.ThrowIfCancellationRequested();

        var type = NotificationChannels.EventType(channel);
        using var span = NotificationTelemetry.Source.StartActivity($"notify publish {type}", ActivityKind.Producer);
        var traceparent = Activity.Current is { IdFormat: ActivityIdFormat.W3C } current ? current.Id! : "";

        // A key per dedupe key, or the epoch again where there is none (the script reads KEYS[6] only with a key).
        var dedupe = string.IsNullOrEmpty(dedupeKey) ? NotificationKeys.Epoch : NotificationKeys.Published(dedupeKey);
        var result = (RedisResult[])(await PublishScript.EvaluateAsync(redis.GetDatabase(),
            [NotificationKeys.Sequence, NotificationKeys.History(channel), NotificationKeys.Trimmed, NotificationKeys.Epoch,
             NotificationKeys.TrimmedTopics, dedupe],
            [channel, type, JsonSerializer.Serialize(payload, payload.GetType(), Json), traceparent,
             NotificationKeys.HistoryLength, NotificationKeys.Live, NotificationKeys.NewEpoch(), dedupeKey ?? "",
             NotificationKeys.TrimmedTopicsKept, (long)NotificationKeys.DedupeLifetime.TotalMilliseconds,
             NotificationKeys.LiveChannel.PublishCommand(redis)]))!;
        var published = new PublishedNotification((string)result[2]!, (long)result[0], (long)result[3] == 1);

        if (published.IsNew)
        {
            telemetry.Published.Add(1, new KeyValuePair<string, object?>("channel", channel));
        }
        span?.SetTag("notification.id", published.Id);
        span?.SetTag("notification.epoch", published.Epoch);
        return published;
    }
}

/// <summary>A published event's place (<see cref="EventId"/> is its SSE id); <see cref="IsNew"/> false when a dedupe key found an earlier publish.</summary>
public sealed record PublishedNotification(string Epoch, long Id, bool IsNew)
{
    public string EventId => EventPosition.Format(Epoch, Id);
}
