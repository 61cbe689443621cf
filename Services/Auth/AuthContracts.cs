namespace Auth;

public sealed record RegisterRequest(string? Email, string? Password, string? Name);
public sealed record LoginRequest(string? Email, string? Password);
public sealed record TierRequest(string? Tier);

public sealed record UserView(string Id, string Email, string Name, string Tier, IReadOnlyList<string> Roles);
public sealed record LoginResponse(string Token, DateTimeOffset ExpiresAt, UserView User);
public sealed record SessionView(string Id, DateTimeOffset CreatedAt, DateTimeOffset LastActivity, DateTimeOffset ExpiresAt);
public sealed record MeResponse(UserView User, SessionView Session);
public sealed record SessionListItem(string Id, DateTimeOffset CreatedAt, DateTimeOffset LastActivity, string UserAgent, DateTimeOffset ExpiresAt, bool Current);
/// <summary>What anyone signed in may know of a user: no email, no tier.</summary>
public sealed record UserProfile(string Id, string Name, DateTimeOffset CreatedAt);
