using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Platform.Jobs;
using Platform.Locking;

namespace Worker.Handlers;

/// <summary>
/// <c>provision {projectId}</c>: creates the project's SQLite database, holding the lock <c>db:{projectId}</c>. A
/// second provision of the same project (concurrent, or a rerun after a crash) finds the database and does nothing.
/// The database is built in a temporary file and renamed into place, so it exists only complete.
/// </summary>
public sealed class ProvisionHandler(IDistributedLock locks, IOptions<WorkerOptions> options, ILogger<ProvisionHandler> logger) : IJobHandler
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    public async Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
    {
        var projectId = Payload.Read<ProvisionPayload>(job).ProjectId;
        Payload.RequireId(projectId, "projectId");
        var path = DatabasePath(options.Value, projectId);

        await using var held = await locks.TryAcquireAsync($"db:{projectId}", Lease, TimeSpan.FromSeconds(30), cancellationToken)
            ?? throw new TimeoutException($"The lock db:{projectId} stayed held for 30 s; the job will retry.");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, held.LockLost);
        if (File.Exists(path))
        {
            logger.LogInformation("Project {ProjectId} already has its database: nothing to do", projectId);
            return JsonSerializer.Serialize(new { created = false, path });
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = $"{path}.{job.Id}.tmp";
        await CreateDatabaseAsync(temporary, projectId, held.FencingToken, stop.Token);
        await Task.Delay(options.Value.ProvisionDuration, stop.Token);
        stop.Token.ThrowIfCancellationRequested(); // the lock was lost: leave it to the next holder
        File.Move(temporary, path, overwrite: false);
        logger.LogInformation("Created the database of project {ProjectId}", projectId);
        return JsonSerializer.Serialize(new { created = true, path });
    }

    public static string DatabasePath(WorkerOptions options, string projectId) =>
        Path.GetFullPath(Path.Combine(options.ProjectsDirectory, $"{projectId}.db"));

    private static async Task CreateDatabaseAsync(string file, string projectId, long fence, CancellationToken cancellationToken)
    {
        File.Delete(file);
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Pooling = false }.ToString());
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            CREATE TABLE project (id TEXT PRIMARY KEY, provisioned_at TEXT NOT NULL, fencing_token INTEGER NOT NULL);
            INSERT INTO project VALUES ($id, $at, $fence);
            """;
        command.Parameters.AddWithValue("$id", projectId);
        command.Parameters.AddWithValue("$at", DateTimeOffset.UtcNow.ToString("O"));
        command.Parameters.AddWithValue("$fence", fence);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private sealed record ProvisionPayload(string ProjectId);
}
