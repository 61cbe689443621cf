namespace Platform.Notifications;

/// <summary>
/// The one place that names notification keys. All share the hash tag <c>{events}</c>: a publish touches the
/// global sequence and one channel's history in one script, so they must live on one cluster slot.
/// </summary>
internal static class NotificationKeys
{
    public const string Sequence = "notify:{events}:sequence";
    public const string Trimmed = "notify:{events}:trimmed";
    /// <summary>A random token created beside the sequence (SET NX): a Redis that lost its data gets a new one.</summary>
    public const string Epoch = "notify:{events}:epoch";
    public const string TrimmedTopics = "notify:{events}:trimmed-topics";
    public static string Published(string dedupeKey) => $"notify:{{events}}:published:{dedupeKey}";
    public static string History(string channel) => $"notify:{{events}}:history:{channel}";

    /// <summary>The pub/sub channel every notifier process subscribes to, once (not a key); sharded on a cluster.</summary>
    public const string Live = "notify:{events}:live";

    public static readonly Platform.Redis.PubSubChannel LiveChannel = new(Live);

    /// <summary>
    /// A user's open streams, in every notifier process: a sorted set of stream id by lease end (server time, ms).
    /// Its own hash tag, the user's: a stream-slot script touches this one key only.
    /// </summary>
    public static string Streams(string userId) => $"notify:{{u:{userId}}}:streams";

    /// <summary>Events kept per channel for resume and for <c>GET /notifications/history</c>.</summary>
    public const int HistoryLength = 100;

    /// <summary>
    /// Topics (channel and project) whose trimmed ids are remembered, the newest kept. A reader resuming from before
    /// the oldest one forgotten is sent <c>reset</c> whenever its channels were trimmed, as if it could see them all.
    /// </summary>
    public const int TrimmedTopicsKept = 10_000;

    /// <summary>How long a publish's dedupe key answers a repeat of it: longer than any outbox retries for.</summary>
    public static readonly TimeSpan DedupeLifetime = TimeSpan.FromDays(7);

    /// <summary>A fresh epoch candidate: 48 random bits, 12 lowercase hex characters (no '-': ids are <c>epoch-n</c>).</summary>
    public static string NewEpoch() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));
}
