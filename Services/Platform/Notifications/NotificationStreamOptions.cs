namespace Platform.Notifications;

/// <summary>Settings of the notification stream (configuration section <c>Notifications</c>).</summary>
public sealed class NotificationStreamOptions
{
    public const string SectionName = "Notifications";

    /// <summary>
    /// How often a stream sends a comment line, so proxies and clients know it is alive. Defaults to 15 s. Keep it well
    /// under the idle timeouts on the way: the gateway's YARP cancels a proxied request after 100 s without data.
    /// </summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How often a stream checks its session again; a revoked or expired session ends the stream within this time.
    /// Defaults to 30 s (one Redis round trip per client per interval).
    /// </summary>
    public TimeSpan SessionRevalidationInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Streams one user may hold open at once, across every notifier process; the next gets 429. Defaults to 10.
    /// </summary>
    public int MaxStreamsPerUser { get; set; } = 10;

    /// <summary>
    /// How long a stream's slot lasts without renewal: three <see cref="SessionRevalidationInterval"/>s, as each
    /// stream renews it when it checks its session. A stream whose process died frees its slot after this.
    /// </summary>
    public TimeSpan StreamLease => SessionRevalidationInterval * 3;

    /// <summary>Events buffered per client before it is dropped as too slow. Defaults to 256.</summary>
    public int ClientBufferSize { get; set; } = 256;

    /// <summary>How long a new stream waits for this process's Redis subscription before answering 503. Defaults to 5 s.</summary>
    public TimeSpan SubscriptionWait { get; set; } = TimeSpan.FromSeconds(5);
}
