using System.Diagnostics;
using System.Security.Cryptography;
using Platform.Redis;
using StackExchange.Redis;

namespace Platform.RateLimiting;

/// <summary>
/// Rate-limit decisions in Redis: one script, one round trip, on the server's clock, so every gateway replica
/// shares the same count. The key of a partition is <c>api:ratelimit:{partition}:rule</c> (the gateway owns them), and always has a TTL.
/// </summary>
public sealed class RedisRateLimitStore(IConnectionMultiplexer redis)
{
    private static readonly RedisScript SlidingWindow = RedisScript.FromResource<RedisRateLimitStore>("sliding-window.lua", ScriptKeyAccess.DeclaredOnly);
    /// <summary>The rate limiter's spans (its meter, of the same name, is the gateway's: <see cref="GatewayRateLimiter"/>).</summary>
    public static readonly ActivitySource Source = new("Platform.RateLimiting");

    private static readonly RedisScript FixedWindow = RedisScript.FromResource<RedisRateLimitStore>("fixed-window.lua", ScriptKeyAccess.DeclaredOnly);

    public static string Key(string partition, RateLimitRule rule) => $"api:ratelimit:{{{partition}}}:{rule.Name}";

    public async Task<RateLimitDecision> DecideAsync(string partition, RateLimitRule rule)
    {
        ArgumentException.ThrowIfNullOrEmpty(partition);
        ArgumentNullException.ThrowIfNull(rule);

        using var span = Source.StartActivity("ratelimit decide");
        span?.SetTag("ratelimit.rule", rule.Name);
        RedisKey[] keys = [Key(partition, rule)];
        var windowMs = (long)rule.Window.TotalMilliseconds;
        var result = rule.Algorithm == RateLimitAlgorithm.SlidingWindow
            ? await SlidingWindow.EvaluateAsync(redis.GetDatabase(), keys, [rule.Limit, windowMs, Convert.ToHexString(RandomNumberGenerator.GetBytes(8))])
            : await FixedWindow.EvaluateAsync(redis.GetDatabase(), keys, [rule.Limit, windowMs]);

        var values = (long[])result!;
        span?.SetTag("ratelimit.admitted", values[0] == 1);
        span?.SetTag("ratelimit.remaining", values[1]);
        return new RateLimitDecision(values[0] == 1, rule, values[1],
            TimeSpan.FromMilliseconds(values[2]), TimeSpan.FromMilliseconds(values[3]));
    }
}
