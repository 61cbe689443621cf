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

    /// <summary>Events kept per channel for resume and for <c>GET /notifications/history</c>.</summary>
    public const int HistoryLength = 100;
}
