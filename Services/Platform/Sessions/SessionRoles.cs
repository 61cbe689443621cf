namespace Platform.Sessions;

/// <summary>The role claims a session carries (auth writes them at sign-in; every service checks them).</summary>
public static class SessionRoles
{
    public const string User = "user";
    /// <summary>Operators: the admin API, alerts, every project.</summary>
    public const string Admin = "admin";
}
