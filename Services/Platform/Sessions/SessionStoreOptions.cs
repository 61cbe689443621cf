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

    /// <summary>
    /// Live sessions one user may hold. A sign-in beyond it revokes the user's least recently used sessions, so a
    /// script that signs in often never grows the user's index (and the scripts that walk it) without bound.
    /// Defaults to 500.
    /// </summary>
    public int MaxSessionsPerUser { get; set; } = 500;

    /// <summary>The HttpOnly cookie that carries the token for browsers. Defaults to <c>session</c>.</summary>
    public string CookieName { get; set; } = "session";
}
