namespace Platform.RateLimiting;

/// <summary>The gateway's limits. Bound from the <c>RateLimiting</c> configuration section.</summary>
public sealed class RateLimitingOptions
{
    public const string SectionName = "RateLimiting";

    /// <summary>The window of the per-caller limits. Defaults to 1 minute.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Requests per window by tier. Defaults: anonymous 10 (per client IP), user 100, premium 1000, admin 10000.</summary>
    public Dictionary<string, int> Tiers { get; set; } = new()
    {
        ["anonymous"] = 10,
        ["user"] = 100,
        ["premium"] = 1000,
        ["admin"] = 10000,
    };

    /// <summary>Sign-in attempts per client IP per <see cref="SignInWindow"/>, right or wrong. Defaults to 30.</summary>
    public int SignInAttemptsPerIp { get; set; } = 30;

    /// <summary>Sign-in attempts per email per <see cref="SignInWindow"/>, right or wrong. Defaults to 10.</summary>
    public int SignInAttemptsPerEmail { get; set; } = 10;

    /// <summary>Defaults to 15 minutes.</summary>
    public TimeSpan SignInWindow { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// When Redis is unreachable: false (default) lets requests through (fail open, counted in
    /// <c>ratelimit.fail_open</c> and logged at most once a minute); true answers 503.
    /// </summary>
    public bool FailClosed { get; set; }
}
