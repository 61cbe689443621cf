using System.Text.Json;

namespace Platform.Notifications;

/// <summary>
/// One published event: <see cref="Json"/> is exactly what Redis holds and what the stream sends as <c>data:</c>
/// (<c>{"type","channel","epoch","id","timestamp","payload","traceparent"}</c>); the other properties are read from it once.
/// </summary>
public sealed record NotificationEvent(
    string Epoch, long Id, string Type, string Channel, DateTimeOffset Timestamp, string? ProjectId, string? Traceparent, string Json)
{
    private byte[]? _frame;

    /// <summary>The SSE <c>id:</c>, <c>&lt;epoch&gt;-&lt;id&gt;</c> (see <see cref="EventPosition"/>).</summary>
    public string EventId => EventPosition.Format(Epoch, Id);

    /// <summary>
    /// The event as one SSE message, encoded on first use and then shared: the hub encodes a live event once and
    /// every stream writes these same bytes.
    /// </summary>
    internal byte[] Frame => _frame ??= SseFrame.Encode(Type, Json, EventId);

    public static NotificationEvent Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        string? projectId = null;
        if (root.TryGetProperty("payload", out var payload) && payload.ValueKind == JsonValueKind.Object
            && payload.TryGetProperty("projectId", out var project))
        {
            // Ids may be JSON strings or numbers depending on the publisher: compare them as text.
            projectId = project.ValueKind switch
            {
                JsonValueKind.String => project.GetString(),
                JsonValueKind.Number => project.GetRawText(),
                _ => null,
            };
        }
        return new NotificationEvent(
            // Events written before epochs have none: they belong to no epoch a reader can hold.
            root.TryGetProperty("epoch", out var epoch) && epoch.ValueKind == JsonValueKind.String ? epoch.GetString()! : "",
            root.GetProperty("id").GetInt64(),
            root.GetProperty("type").GetString()!,
            root.GetProperty("channel").GetString()!,
            DateTimeOffset.FromUnixTimeMilliseconds(root.GetProperty("timestamp").GetInt64()),
            projectId,
            root.TryGetProperty("traceparent", out var tp) && tp.ValueKind == JsonValueKind.String ? tp.GetString() : null,
            json);
    }
}
