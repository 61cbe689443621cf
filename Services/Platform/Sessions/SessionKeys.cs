namespace Platform.Sessions;

/// <summary>
/// The one place that names session keys. Everything of one user shares the hash tag <c>{u:&lt;id&gt;}</c>,
/// so a script may touch all of it on a Redis cluster.
/// </summary>
internal static class SessionKeys
{
    public static string SessionPrefix(string userId) => $"auth:{{u:{userId}}}:session:";
    public static string Session(string userId, string tokenHash) => SessionPrefix(userId) + tokenHash;
    public static string Index(string userId) => $"auth:{{u:{userId}}}:sessions";
    /// <summary>A user's sessions by idle expiry: what ended is pruned by range, and the cap revokes the least recently used.</summary>
    public static string Expiries(string userId) => $"auth:{{u:{userId}}}:session-expiries";
    public static string Permissions(string userId, string projectId) => $"auth:{{u:{userId}}}:perm:{projectId}";
    public static string PermissionsGeneration(string userId, string projectId) => $"auth:{{u:{userId}}}:perm-gen:{projectId}";
    public static string ProjectMembers(string projectId) => $"auth:{{p:{projectId}}}:members";
    public static string ProjectMembersGeneration(string projectId) => $"auth:{{p:{projectId}}}:members-gen";
    public const string ScanPattern = "auth:{u:*}:session:*";
}
