using Platform.Sessions;

namespace Platform.Notifications;

/// <summary>Who is reading a stream or the history: the session's user, and the token to ask other services with.</summary>
public sealed record NotificationViewer(string UserId, bool IsAdmin, string Token);

/// <summary>
/// Where the notifier learns whether a user belongs to a project (the api service owns projects). The answer is
/// cached by <see cref="PermissionCache"/>, which the api invalidates whenever a membership changes.
/// </summary>
public interface IProjectMembership
{
    /// <summary>
    /// The viewer's permissions on the project from the data of record: <c>["member"]</c> if the viewer is listed
    /// among its members, else empty (admins are not members unless listed). Throws if the answer is unknown.
    /// </summary>
    Task<IReadOnlyList<string>> LoadPermissionsAsync(NotificationViewer viewer, string projectId, CancellationToken cancellationToken);
}

/// <summary>Who may see which event: system alerts everyone, project_created admins, deployment_status members of that project.</summary>
public sealed class NotificationAccess(PermissionCache permissions, IProjectMembership membership)
{
    public const string MemberPermission = "member";

    public async ValueTask<bool> CanSeeAsync(NotificationViewer viewer, NotificationEvent notification, CancellationToken cancellationToken) =>
        notification.Channel switch
        {
            NotificationChannels.SystemAlert => true,
            NotificationChannels.ProjectCreated => viewer.IsAdmin,
            NotificationChannels.DeploymentStatus => notification.ProjectId is { } projectId
                && await IsMemberAsync(viewer, projectId, cancellationToken),
            _ => false,
        };

    public async Task<bool> IsMemberAsync(NotificationViewer viewer, string projectId, CancellationToken cancellationToken)
    {
        var granted = await permissions.GetOrLoadAsync(viewer.UserId, projectId,
            token => membership.LoadPermissionsAsync(viewer, projectId, token), cancellationToken);
        return granted.Contains(MemberPermission);
    }
}
