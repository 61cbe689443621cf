using Microsoft.Extensions.Options;
using Platform.Jobs;
using Platform.Locking;

namespace Worker.Handlers;

/// <summary>
/// <c>deployment {projectId, deploymentId, branch, environment}</c>: a SIMULATED pipeline (nothing is built or
/// deployed; step durations and failures come from <see cref="DeploymentSimulation"/>). Reports queued, then holds
/// <c>deploy:{projectId}</c> from building to the end, so one deployment per project runs at a time: building,
/// deploying, succeeded; or failed (a build failure is permanent: the job is not retried, unless
/// <see cref="DeploymentSimulation.RetryFailedBuilds"/>). While another deployment of the project holds the lock, the
/// job is deferred (back to the queue, its attempt not counted), never parked in a slot.
/// </summary>
public sealed class DeploymentHandler(
    IDistributedLock locks, IDeploymentStatusPublisher publisher, IOptions<WorkerOptions> options, ILogger<DeploymentHandler> logger) : IJobHandler
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    public async Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
    {
        var request = Payload.Read<DeploymentPayload>(job);
        Payload.RequireId(request.ProjectId, "projectId");
        Payload.RequireId(request.DeploymentId, "deploymentId");
        if (string.IsNullOrWhiteSpace(request.Branch) || string.IsNullOrWhiteSpace(request.Environment))
        {
            throw new PermanentJobFailureException("'branch' and 'environment' are required.");
        }
        var simulation = options.Value.Deployment;
        Task Report(string status) => publisher.PublishAsync(new DeploymentStatus(request.ProjectId!, request.DeploymentId!, job.Id, status), cancellationToken);

        if (job.Deferrals == 0)
        {
            await Report("queued");
        }
        var attempt = await locks.TryAcquireOnceAsync($"deploy:{request.ProjectId}", Lease, cancellationToken);
        if (attempt.Handle is null)
        {
            // Another deployment of the project runs: wait in the queue, not in a worker slot, so other projects'
            // deployments are not held up. Try again when its lease would end (a holder that could not release),
            // or sooner: a holder that finishes releases its lock long before.
            var retry = attempt.HolderLeaseLeft < simulation.LockRetry ? attempt.HolderLeaseLeft : simulation.LockRetry;
            throw new JobDeferredException(retry, $"another deployment of project {request.ProjectId} holds deploy:{request.ProjectId}");
        }
        await using var held = attempt.Handle;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, held.LockLost);

        await Report("building");
        await Task.Delay(simulation.BuildDuration, stop.Token);
        if (request.Branch.StartsWith(simulation.FailingBranchPrefix, StringComparison.Ordinal) || Random.Shared.NextDouble() < simulation.FailureRate)
        {
            await Report("failed");
            logger.LogWarning("Deployment {DeploymentId}: the simulated build of {Branch} failed", request.DeploymentId, request.Branch);
            var message = $"The build of {request.Branch} failed (simulated, attempt {job.Attempt} of {job.MaxAttempts}).";
            throw simulation.RetryFailedBuilds ? new DeploymentBuildFailedException(message) : new PermanentJobFailureException(message);
        }

        await Report("deploying");
        await Task.Delay(simulation.DeployDuration, stop.Token);
        stop.Token.ThrowIfCancellationRequested();
        await Report("succeeded");
        return System.Text.Json.JsonSerializer.Serialize(new { deploymentId = request.DeploymentId, status = "succeeded", environment = request.Environment });
    }

    private sealed record DeploymentPayload(string? ProjectId, string? DeploymentId, string? Branch, string? Environment);
}

/// <summary>A simulated build failure that the queue retries (<see cref="DeploymentSimulation.RetryFailedBuilds"/>).</summary>
public sealed class DeploymentBuildFailedException(string message) : Exception(message);
