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
    private static readonly RedisScript PublishScript = RedisScript.FromResource<NotificationPublisher>("publish.lua");
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Publishes <paramref name="payload"/> (serialized as camelCase JSON) on a channel of <see cref="NotificationChannels"/>; returns the event id.</summary>
    public async Task<long> PublishAsync(string channel, object payload, CancellationToken cancellationToken = default)
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

        var result = (long[])(await PublishScript.EvaluateAsync(redis.GetDatabase(),
            [NotificationKeys.Sequence, NotificationKeys.History(channel), NotificationKeys.Trimmed],
            [channel, type, JsonSerializer.Serialize(payload, payload.GetType(), Json), traceparent,
             NotificationKeys.HistoryLength, NotificationKeys.Live]))!;

        telemetry.Published.Add(1, new KeyValuePair<string, object?>("channel", channel));
        span?.SetTag("notification.id", result[0]);
        return result[0];
    }
}
