namespace Platform.Sessions;

/// <summary>Who signs in: what a session remembers of its user.</summary>
public sealed record SessionUser(string UserId, string Email, string Name, IReadOnlyList<string> Roles, string Tier);

/// <summary>A live session, as validation returns it. <see cref="Id"/> is public; the token is never kept.</summary>
public sealed record Session(
    string Id,
    SessionUser User,
    string UserAgent,
    DateTimeOffset CreatedAt,
    DateTimeOffset LastActivity,
    DateTimeOffset AbsoluteExpiresAt,
    DateTimeOffset ExpiresAt);

/// <summary>One entry of a user's session list (no token, no token hash).</summary>
public sealed record SessionSummary(string Id, DateTimeOffset CreatedAt, DateTimeOffset LastActivity, string UserAgent, DateTimeOffset ExpiresAt);

/// <summary>What sign-in hands back once: the token (never stored) and the session it opens.</summary>
public sealed record CreatedSession(string Token, Session Session);
