using System.Text.Json;
using Platform.Jobs;
using Platform.Locking;

namespace Worker.Handlers;

/// <summary>
/// <c>provision {projectId}</c>: creates the project's database (<see cref="IProjectDatabases"/>: a SQLite file, or a
/// PostgreSQL database fenced by the lock's token), holding the lock <c>db:{projectId}</c>. A second provision of the
/// same project (concurrent, or a rerun after a crash) finds the database and does nothing.
/// </summary>
public sealed class ProvisionHandler(IDistributedLock locks, IProjectDatabases databases, ILogger<ProvisionHandler> logger) : IJobHandler
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    public async Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
    {
        var projectId = Payload.Read<ProvisionPayload>(job).ProjectId;
        Payload.RequireId(projectId, "projectId");

        await using var held = await locks.TryAcquireAsync($"db:{projectId}", Lease, TimeSpan.FromSeconds(30), cancellationToken)
            ?? throw new TimeoutException($"The lock db:{projectId} stayed held for 30 s; the job will retry.");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, held.LockLost);
        var outcome = await databases.ProvisionAsync(projectId, await held.GetFencingTokenAsync(), stop.Token);
        if (outcome.Created)
        {
            logger.LogInformation("Created the database of project {ProjectId}: {Location}", projectId, outcome.Location);
        }
        else
        {
            logger.LogInformation("Project {ProjectId} already has its database: nothing to do", projectId);
        }
        return JsonSerializer.Serialize(new { created = outcome.Created, path = outcome.Location });
    }

    private sealed record ProvisionPayload(string ProjectId);
}
