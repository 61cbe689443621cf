namespace Platform.Sessions;

/// <summary>Session lifetimes and where the token travels. Bound from the <c>Sessions</c> configuration section.</summary>
public sealed class SessionStoreOptions
{
    public const string SectionName = "Sessions";

    /// <summary>A session unused for this long ends. Defaults to 7 days.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromDays(7);

    /// <summary>A session ends this long after sign-in, however much it is used. Defaults to 30 days.</summary>
    public TimeSpan AbsoluteTimeout { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// Last activity (and the idle expiry) is written at most this often per session, so that most requests
    /// only read. Idle expiry is therefore exact to within this interval. Defaults to 1 minute.
    /// </summary>
    public TimeSpan TouchInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The HttpOnly cookie that carries the token for browsers. Defaults to <c>session</c>.</summary>
    public string CookieName { get; set; } = "session";
}
