namespace Platform.RateLimiting;

public enum RateLimitAlgorithm
{
    /// <summary>Exact: never more than the limit in any window of the rule's length (a log per partition).</summary>
    SlidingWindow,

    /// <summary>Cheap: a counter per window; up to twice the limit can pass around a window boundary.</summary>
    FixedWindow,
}

/// <summary>A named limit: at most <see cref="Limit"/> requests per <see cref="Window"/>.</summary>
public sealed record RateLimitRule(string Name, int Limit, TimeSpan Window, RateLimitAlgorithm Algorithm = RateLimitAlgorithm.SlidingWindow)
{
    /// <summary>The IETF draft's policy form: <c>"name";q=limit;w=seconds</c>.</summary>
    public string PolicyHeader => $"\"{Name}\";q={Limit};w={(long)Window.TotalSeconds}";
}

/// <summary>One decision, taken on Redis's clock.</summary>
public sealed record RateLimitDecision(bool Admitted, RateLimitRule Rule, long Remaining, TimeSpan RetryAfter, TimeSpan ResetAfter)
{
    /// <summary>Whole seconds, rounded up, so a client that waits this long is never early.</summary>
    public static long Seconds(TimeSpan t) => (long)Math.Ceiling(Math.Max(0, t.TotalMilliseconds) / 1000);
}
