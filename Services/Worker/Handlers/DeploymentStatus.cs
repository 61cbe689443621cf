namespace Worker.Handlers;

/// <summary>The <c>deployment_status</c> event: <c>{projectId, deploymentId, jobId, status}</c>.</summary>
/// <param name="Status">queued, building, deploying, succeeded or failed.</param>
public sealed record DeploymentStatus(string ProjectId, string DeploymentId, string JobId, string Status);

/// <summary>
/// Where the deployment pipeline reports its progress. The app binds it to the notifier's publisher on the channel
/// <c>deployment:status</c>; until then <see cref="LoggingDeploymentStatusPublisher"/> only logs.
/// </summary>
public interface IDeploymentStatusPublisher
{
    Task PublishAsync(DeploymentStatus status, CancellationToken cancellationToken);
}

/// <summary>Logs each status: the default when nothing else is bound.</summary>
public sealed class LoggingDeploymentStatusPublisher(ILogger<LoggingDeploymentStatusPublisher> logger) : IDeploymentStatusPublisher
{
    public Task PublishAsync(DeploymentStatus status, CancellationToken cancellationToken)
    {
        logger.LogInformation("Deployment {DeploymentId} of project {ProjectId} (job {JobId}): {Status}",
            status.DeploymentId, status.ProjectId, status.JobId, status.Status);
        return Task.CompletedTask;
    }
}
