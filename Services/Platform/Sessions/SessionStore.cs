using System.Diagnostics;
using Microsoft.Extensions.Options;
using Platform.Redis;
using StackExchange.Redis;

namespace Platform.Sessions;

/// <summary>
/// Sessions in Redis. Every operation is one round trip on the keys of one user, decided on the server's clock: a script
/// each, except the common validation (a live session, no touch due), which is two plain reads sent together.
/// Redis errors are not caught here: the host turns them into 503 (see RedisOutage).
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

        RedisKey[] keys = [SessionKeys.Session(userId, hash), SessionKeys.Index(userId), SessionKeys.Expiries(userId)];
        RedisValue[] args = [Milliseconds(Options.IdleTimeout), Milliseconds(Options.TouchInterval), SessionKeys.SessionPrefix(userId)];
        var (session, touchDue) = await ReadLiveAsync(keys[0]);
        if (session is null)
        {
            var result = await ValidateScript.EvaluateAsync(Db, keys, args);
            session = result.IsNull ? null : Read((RedisValue[])result!);
        }
        else if (touchDue)
        {
            _ = TouchAsync(keys, args);
        }

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

    /// <summary>
    /// The validation of a live session, without a script: its three fields and its TTL, two plain commands sent together
    /// (one round trip; server CPU per validation is what bounds it under load, and a script call costs more than both).
    /// The rule is validate.lua's: every touch sets the TTL to min(idle, abs - last), so a key that exists is within both
    /// expiries, and what is gone of that TTL is the time since the last touch, all on the server's clock. Returns the
    /// session and whether a touch is due (then as of the server's time of the PTTL: the time the touch will write, give
    /// or take the moment); no session when validate.lua must decide: a miss (it prunes the user's ended sessions), a
    /// session of the earlier layout (it converts it), a key without a TTL, or <c>TouchInterval</c> 0 (every validation
    /// touches: the script alone is one round trip). The two replies need not be of one instant: a touch or a revocation
    /// between them at worst makes a touch due that validate.lua, deciding again, does not write.
    /// </summary>
    private async Task<(Session? Session, bool TouchDue)> ReadLiveAsync(RedisKey key)
    {
        if (Options.TouchInterval <= TimeSpan.Zero)
        {
            return (null, false);
        }
        var db = Db;
        var fields = db.HashGetAsync(key, SessionFields);
        var ttl = db.KeyTimeToLiveAsync(key);
        await Task.WhenAll(fields, ttl); // both observed, so a failure of one (an outage) leaves no unobserved task behind
        var values = fields.Result;
        if (ttl.Result is not { } left || values[0].IsNull || values[1].IsNull || values[2].IsNull)
        {
            return (null, false);
        }
        var last = (long)values[1];
        var sinceTouch = Math.Min(Milliseconds(Options.IdleTimeout), (long)values[2] - last) - (long)left.TotalMilliseconds;
        if (sinceTouch < Milliseconds(Options.TouchInterval))
        {
            return (Read(values), false);
        }
        values[1] = last + sinceTouch;
        return (Read(values), true);
    }

    /// <summary>
    /// A due touch, written by validate.lua after the validation has answered: the request does not wait for it (one
    /// round trip per validation). The script decides again, atomically, on the server's clock (a session revoked or
    /// touched meanwhile is left as it is). One that fails is counted, and the next validation finds the touch still due.
    /// </summary>
    private async Task TouchAsync(RedisKey[] keys, RedisValue[] args)
    {
        try
        {
            await ValidateScript.EvaluateAsync(Db, keys, args);
            telemetry.Touches.Add(1, new KeyValuePair<string, object?>("outcome", "done"));
        }
        catch (Exception)
        {
            telemetry.Touches.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
        }
    }

    /// <summary>The profile field, last activity and the absolute expiry, in that order (as validate.lua returns them).</summary>
    private static readonly RedisValue[] SessionFields = ["p", "last", "abs"];

    private Session Read(RedisValue[] values)
    {
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
