using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Worker.Handlers;

/// <summary>
/// Each project's database is a SQLite file, <c>&lt;projectId&gt;.db</c> in <see cref="WorkerOptions.ProjectsDirectory"/>.
/// It is built in a temporary file and renamed into place, so it exists only complete.
/// </summary>
public sealed class SqliteProjectDatabases(IOptions<WorkerOptions> options) : IProjectDatabases
{
    public async Task<ProvisionOutcome> ProvisionAsync(string projectId, long fencingToken, CancellationToken lockLost)
    {
        var path = DatabasePath(options.Value, projectId);
        if (File.Exists(path))
        {
            return new ProvisionOutcome(false, path);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = $"{path}.{fencingToken}.tmp";
        await CreateDatabaseAsync(temporary, projectId, fencingToken, lockLost);
        await Task.Delay(options.Value.ProvisionDuration, lockLost);
        lockLost.ThrowIfCancellationRequested(); // the lock was lost: leave it to the next holder
        File.Move(temporary, path, overwrite: false);
        return new ProvisionOutcome(true, path);
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
}
