using System.Diagnostics;
using Microsoft.Extensions.Options;
using Platform.Redis;
using StackExchange.Redis;

namespace Platform.Sessions;

/// <summary>
/// Sessions in Redis. Every operation is one script (one round trip) on the keys of one user, decided on the
/// server's clock. Redis errors are not caught here: the host turns them into 503 (see RedisOutage).
/// </summary>
public sealed class SessionStore(IConnectionMultiplexer redis, IOptions<SessionStoreOptions> options, SessionTelemetry telemetry)
{
    private static readonly RedisScript CreateScript = RedisScript.FromResource<SessionStore>("create.lua");
    private static readonly RedisScript ValidateScript = RedisScript.FromResource<SessionStore>("validate.lua");
    private static readonly RedisScript ListScript = RedisScript.FromResource<SessionStore>("list.lua");
    private static readonly RedisScript RevokeScript = RedisScript.FromResource<SessionStore>("revoke.lua");
    private static readonly RedisScript RevokeAllScript = RedisScript.FromResource<SessionStore>("revoke-all.lua");
    private static readonly RedisScript UpdateUserScript = RedisScript.FromResource<SessionStore>("update-user.lua");

    private SessionStoreOptions Options => options.Value;
    private IDatabase Db => redis.GetDatabase();

    public async Task<CreatedSession> CreateAsync(SessionUser user, string? userAgent)
    {
        ArgumentNullException.ThrowIfNull(user);
        using var span = SessionTelemetry.Source.StartActivity("session create");
        span?.SetTag("enduser.id", user.UserId);

        var (token, hash) = SessionToken.Create(user.UserId);
        var id = NewSessionId();
        var agent = Truncate(userAgent ?? "", 256);
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.MaxSessionsPerUser, 1, "Sessions:MaxSessionsPerUser");
        var result = (long[])(await CreateScript.EvaluateAsync(Db,
            [SessionKeys.Session(user.UserId, hash), SessionKeys.Index(user.UserId), SessionKeys.Expiries(user.UserId)],
            [id, user.UserId, user.Email, user.Name, string.Join(',', user.Roles), user.Tier, agent,
             Milliseconds(Options.IdleTimeout), Milliseconds(Options.AbsoluteTimeout), hash,
             SessionKeys.SessionPrefix(user.UserId), Options.MaxSessionsPerUser]))!;

        telemetry.Created.Add(1);
        telemetry.Revoked.Add(result[2]);
        var created = DateTimeOffset.FromUnixTimeMilliseconds(result[0]);
        var absolute = DateTimeOffset.FromUnixTimeMilliseconds(result[1]);
        return new(token, new Session(id, user, agent, created, created, absolute, Earlier(created + Options.IdleTimeout, absolute)));
    }

    /// <summary>The session a token opens, touched; null for an unknown, revoked, expired or malformed token.</summary>
    public async Task<Session?> ValidateAsync(string? token)
    {
        using var span = SessionTelemetry.Source.StartActivity("session validate");
        if (!SessionToken.TryParse(token, out var userId, out var hash))
        {
            telemetry.Validations.Add(1, new KeyValuePair<string, object?>("outcome", "malformed"));
            return null;
        }

        var result = await ValidateScript.EvaluateAsync(Db,
            [SessionKeys.Session(userId, hash), SessionKeys.Index(userId), SessionKeys.Expiries(userId)],
            [Milliseconds(Options.IdleTimeout), Milliseconds(Options.TouchInterval), SessionKeys.SessionPrefix(userId)]);
        var session = result.IsNull ? null : Read(result);

        telemetry.Validations.Add(1, new KeyValuePair<string, object?>("outcome", session is null ? "invalid" : "valid"));
        span?.SetTag("enduser.id", userId);
        span?.SetTag("session.valid", session is not null);
        return session;
    }

    public async Task<IReadOnlyList<SessionSummary>> ListAsync(string userId)
    {
        using var span = SessionTelemetry.Source.StartActivity("session list");
        var values = (RedisValue[])(await ListScript.EvaluateAsync(Db,
            [SessionKeys.Index(userId), SessionKeys.Expiries(userId)], [SessionKeys.SessionPrefix(userId)]))!;

        var sessions = new List<SessionSummary>(values.Length / 5);
        for (var i = 0; i < values.Length; i += 5)
        {
            var last = Time(values[i + 2]);
            var absolute = Time(values[i + 4]);
            sessions.Add(new(values[i]!, Time(values[i + 1]), last, values[i + 3]!, Earlier(last + Options.IdleTimeout, absolute)));
        }
        return sessions.OrderBy(s => s.CreatedAt).ToList();
    }

    /// <summary>Ends one of the user's sessions by its public id; false if there was no such live session.</summary>
    public async Task<bool> RevokeAsync(string userId, string sessionId)
    {
        using var span = SessionTelemetry.Source.StartActivity("session revoke");
        var removed = (long)await RevokeScript.EvaluateAsync(Db,
            [SessionKeys.Index(userId), SessionKeys.Expiries(userId)], [SessionKeys.SessionPrefix(userId), sessionId]);
        telemetry.Revoked.Add(removed);
        return removed == 1;
    }

    /// <summary>Ends every session of the user in one round trip; returns how many were live.</summary>
    public async Task<long> RevokeAllAsync(string userId)
    {
        using var span = SessionTelemetry.Source.StartActivity("session revoke-all");
        var removed = (long)await RevokeAllScript.EvaluateAsync(Db,
            [SessionKeys.Index(userId), SessionKeys.Expiries(userId)], [SessionKeys.SessionPrefix(userId)]);
        telemetry.Revoked.Add(removed);
        span?.SetTag("sessions.revoked", removed);
        return removed;
    }

    /// <summary>Rewrites the tier and roles of every live session of the user at once; returns how many.</summary>
    public async Task<long> UpdateUserAsync(string userId, string tier, IReadOnlyList<string> roles)
    {
        using var span = SessionTelemetry.Source.StartActivity("session update-user");
        return (long)await UpdateUserScript.EvaluateAsync(Db,
            [SessionKeys.Index(userId), SessionKeys.Expiries(userId)], [SessionKeys.SessionPrefix(userId), "tier", tier, "roles", string.Join(',', roles)]);
    }

    /// <summary>validate.lua returns the profile field, last activity and the absolute expiry, in that order.</summary>
    private Session Read(RedisResult result)
    {
        var values = (RedisValue[])result!;
        var profile = SessionProfile.Parse(((ReadOnlyMemory<byte>)values[0]).Span);
        var last = Time(values[1]);
        var absolute = Time(values[2]);
        return new Session(profile.Id, profile.User, profile.UserAgent, profile.CreatedAt, last, absolute,
            Earlier(last + Options.IdleTimeout, absolute));
    }

    private static string NewSessionId() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));
    private static long Milliseconds(TimeSpan t) => (long)t.TotalMilliseconds;
    private static DateTimeOffset Time(RedisValue unixMs) => DateTimeOffset.FromUnixTimeMilliseconds((long)unixMs);
    private static DateTimeOffset Earlier(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max];
}
