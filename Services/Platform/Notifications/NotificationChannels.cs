namespace Platform.Notifications;

/// <summary>
/// The channels a service may publish on, and who may see each. The SSE event name of a channel is its name with
/// ':' turned into '_' (<c>deployment:status</c> is sent as <c>deployment_status</c>).
/// </summary>
public static class NotificationChannels
{
    /// <summary>A project was created. Payload <c>{projectId, name, ownerId}</c>. Seen by admins only.</summary>
    public const string ProjectCreated = "project:created";

    /// <summary>A deployment changed status. Payload <c>{projectId, deploymentId, jobId, status}</c>. Seen by members of that project only.</summary>
    public const string DeploymentStatus = "deployment:status";

    /// <summary>An alert posted by an admin. Payload <c>{message, severity}</c>. Seen by everyone.</summary>
    public const string SystemAlert = "system:alert";

    public static readonly IReadOnlyList<string> All = [ProjectCreated, DeploymentStatus, SystemAlert];

    public static bool IsKnown(string? channel) => channel is ProjectCreated or DeploymentStatus or SystemAlert;

    /// <summary>The SSE event name (the event's <c>type</c>) of a channel.</summary>
    public static string EventType(string channel) => channel.Replace(':', '_');
}
