using Platform.Sessions;

namespace Platform.Notifications;

/// <summary>Who is reading a stream or the history: the session's user, and the token the session is checked again with.</summary>
public sealed record NotificationViewer(string UserId, bool IsAdmin, string Token);

/// <summary>
/// Where the notifier learns who belongs to a project (the api service owns projects), as the notifier's own service
/// identity, never a viewer's: the look-up is nobody's quota. The answer is cached per project by
/// <see cref="ProjectMemberCache"/>, which the api invalidates whenever a membership changes.
/// </summary>
public interface IProjectMembership
{
    /// <summary>
    /// The project's member ids from the data of record (admins are not members unless listed), or null if there is
    /// no such project. Throws if the answer is unknown.
    /// </summary>
    Task<IReadOnlySet<string>?> LoadMembersAsync(string projectId, CancellationToken cancellationToken);
}

/// <summary>Who may see which event: system alerts everyone, project_created admins, deployment_status members of that project.</summary>
public sealed class NotificationAccess(ProjectMemberCache members, IProjectMembership membership)
{
    public async ValueTask<bool> CanSeeAsync(NotificationViewer viewer, NotificationEvent notification, CancellationToken cancellationToken) =>
        notification.Channel switch
        {
            NotificationChannels.SystemAlert => true,
            NotificationChannels.ProjectCreated => viewer.IsAdmin,
            NotificationChannels.DeploymentStatus => notification.ProjectId is { } projectId
                && await IsMemberAsync(viewer, projectId, cancellationToken),
            _ => false,
        };

    /// <summary>
    /// Whether the viewer could have seen an event of any of these topics (trimmed from the history while it was away).
    /// Conservative: true when membership cannot be read, or when more than <see cref="MaxTrimmedProjectsChecked"/>
    /// projects would have to be asked about (the client then starts over, as it would without this check).
    /// </summary>
    public async Task<bool> MaySeeAnyAsync(NotificationViewer viewer, IReadOnlyList<TrimmedTopic> topics, CancellationToken cancellationToken)
    {
        if (topics.Any(t => t.Channel == NotificationChannels.SystemAlert || (t.Channel == NotificationChannels.ProjectCreated && viewer.IsAdmin)))
        {
            return true;
        }
        var projects = topics.Where(t => t.Channel == NotificationChannels.DeploymentStatus).Select(t => t.ProjectId).Distinct().ToList();
        if (projects.Count > MaxTrimmedProjectsChecked || projects.Contains(""))
        {
            return true;
        }
        foreach (var projectId in projects)
        {
            try
            {
                if (await IsMemberAsync(viewer, projectId, cancellationToken))
                {
                    return true;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Projects whose trimmed deployment events are checked one by one before a resume is answered with a reset anyway.</summary>
    public const int MaxTrimmedProjectsChecked = 50;

    public async Task<bool> IsMemberAsync(NotificationViewer viewer, string projectId, CancellationToken cancellationToken) =>
        (await members.GetOrLoadAsync(projectId, membership.LoadMembersAsync, cancellationToken)).Contains(viewer.UserId);
}
