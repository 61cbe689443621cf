namespace Platform.Notifications;

/// <summary>
/// The one place that names notification keys. All share the hash tag <c>{events}</c>: a publish touches the
/// global sequence and one channel's history in one script, so they must live on one cluster slot.
/// </summary>
internal static class NotificationKeys
{
    public const string Sequence = "notify:{events}:sequence";
    public const string Trimmed = "notify:{events}:trimmed";
    public static string History(string channel) => $"notify:{{events}}:history:{channel}";

    /// <summary>The pub/sub channel every notifier process subscribes to, once (not a key).</summary>
    public const string Live = "notify:{events}:live";

    /// <summary>
    /// A user's open streams, in every notifier process: a sorted set of stream id by lease end (server time, ms).
    /// Its own hash tag, the user's: a stream-slot script touches this one key only.
    /// </summary>
    public static string Streams(string userId) => $"notify:{{u:{userId}}}:streams";

    /// <summary>Events kept per channel for resume and for <c>GET /notifications/history</c>.</summary>
    public const int HistoryLength = 100;
}
