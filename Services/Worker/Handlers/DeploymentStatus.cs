using Platform.Notifications;

namespace Worker.Handlers;

/// <summary>The <c>deployment_status</c> event: <c>{projectId, deploymentId, jobId, status}</c>.</summary>
/// <param name="Status">queued, building, deploying, succeeded or failed.</param>
public sealed record DeploymentStatus(string ProjectId, string DeploymentId, string JobId, string Status);

/// <summary>
/// Where the deployment pipeline reports its progress: <see cref="NotifierDeploymentStatusPublisher"/> in the app,
/// something simpler in tests of the handler.
/// </summary>
public interface IDeploymentStatusPublisher
{
    Task PublishAsync(DeploymentStatus status, CancellationToken cancellationToken);
}

/// <summary>Publishes each status on <c>deployment:status</c>; the notifier pushes it to the project's members.</summary>
public sealed class NotifierDeploymentStatusPublisher(NotificationPublisher notifications, ILogger<NotifierDeploymentStatusPublisher> logger)
    : IDeploymentStatusPublisher
{
    public async Task PublishAsync(DeploymentStatus status, CancellationToken cancellationToken)
    {
        var id = await notifications.PublishAsync(NotificationChannels.DeploymentStatus,
            new { projectId = status.ProjectId, deploymentId = status.DeploymentId, jobId = status.JobId, status = status.Status }, cancellationToken);
        logger.LogInformation("Deployment {DeploymentId} of project {ProjectId} (job {JobId}): {Status} (event {EventId})",
            status.DeploymentId, status.ProjectId, status.JobId, status.Status, id);
    }
}
