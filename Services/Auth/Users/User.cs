namespace Auth.Users;

/// <summary>A user of record (SQLite or PostgreSQL). Tier and roles are copied into each session at sign-in.</summary>
public sealed class User
{
    public int Id { get; set; }
    public required string Email { get; set; }
    /// <summary>Lower-cased email: the unique key, so that Ada@x and ada@x are one account.</summary>
    public required string NormalizedEmail { get; set; }
    public required string Name { get; set; }
    public required string PasswordHash { get; set; }
    public string Tier { get; set; } = Tiers.User;
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Roles follow the tier: everyone is a user, the admin tier is also an admin.</summary>
    public IReadOnlyList<string> Roles => Tier == Tiers.Admin ? ["user", "admin"] : ["user"];
}

public static class Tiers
{
    public const string Anonymous = "anonymous";
    public const string User = "user";
    public const string Premium = "premium";
    public const string Admin = "admin";

    /// <summary>Tiers a user can hold (anonymous is the absence of a user).</summary>
    public static readonly IReadOnlyList<string> Assignable = [User, Premium, Admin];
}
