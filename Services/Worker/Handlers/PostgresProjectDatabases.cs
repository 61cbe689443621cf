using Microsoft.Extensions.Options;
using Npgsql;
using Platform.Jobs;

namespace Worker.Handlers;

/// <summary>
/// Each project's database is a PostgreSQL database <c>project_&lt;projectId&gt;</c> on the server of the
/// <c>projects</c> connection string, fenced by the lock's token. A registry table there
/// (<c>provisioning.project_databases</c>) holds, per project, the newest token that claimed it and the token the
/// database was created under. A holder first claims (refused if a newer token has), builds the database under a
/// temporary name, then renames it into place in a transaction that locks the project's registry row and re-checks
/// the claim: a holder that lost its lock to a newer one can neither create the database nor replace it, and the
/// database exists only complete. The database itself records its token too (table <c>project</c>).
/// </summary>
public sealed class PostgresProjectDatabases(string connectionString, IOptions<WorkerOptions> options) : IProjectDatabases
{
    // project_ + an id of at most 40 + _t + a token of at most 19 digits fits PostgreSQL's 63-byte names.
    private const int MaxProjectIdLength = 40;

    public async Task<ProvisionOutcome> ProvisionAsync(string projectId, long fencingToken, CancellationToken lockLost)
    {
        if (projectId.Length > MaxProjectIdLength)
        {
            throw new PermanentJobFailureException($"'projectId' must be at most {MaxProjectIdLength} characters on PostgreSQL; got {projectId.Length}.");
        }
        var name = DatabaseName(projectId);
        var temporary = $"{name}_t{fencingToken}";

        await using var server = new NpgsqlConnection(connectionString);
        await server.OpenAsync(lockLost);
        await EnsureRegistryAsync(server, lockLost);

        var createdUnder = await ClaimAsync(server, projectId, fencingToken, lockLost);
        if (createdUnder is not null)
        {
            return new ProvisionOutcome(false, name);
        }

        await ExecuteAsync(server, $"DROP DATABASE IF EXISTS {Quote(temporary)}", lockLost);
        await ExecuteAsync(server, $"CREATE DATABASE {Quote(temporary)}", lockLost);
        try
        {
            await RecordProjectAsync(temporary, projectId, fencingToken, lockLost);
            await Task.Delay(options.Value.ProvisionDuration, lockLost);
            await CommitAsync(server, projectId, fencingToken, temporary, name, lockLost);
            return new ProvisionOutcome(true, name);
        }
        catch
        {
            // Our own temporary database only: the project's database is never touched here.
            await ExecuteAsync(server, $"DROP DATABASE IF EXISTS {Quote(temporary)} WITH (FORCE)", CancellationToken.None);
            throw;
        }
    }

    public static string DatabaseName(string projectId) => $"project_{projectId}";

    private static string Quote(string identifier) => $"\"{identifier.Replace("\"", "\"\"")}\"";

    private static async Task EnsureRegistryAsync(NpgsqlConnection server, CancellationToken cancellationToken)
    {
        // Two workers' first provisions at once would race CREATE ... IF NOT EXISTS in the catalog: serialised here.
        await using var transaction = await server.BeginTransactionAsync(cancellationToken);
        await ExecuteAsync(server, """
            SELECT pg_advisory_xact_lock(hashtext('provisioning.project_databases'));
            CREATE SCHEMA IF NOT EXISTS provisioning;
            CREATE TABLE IF NOT EXISTS provisioning.project_databases (
                project_id text PRIMARY KEY,
                fencing_token bigint NOT NULL,
                created_under bigint NULL);
            """, cancellationToken, transaction);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// Records <paramref name="fencingToken"/> as the project's newest claim. Returns the token the database was
    /// created under if it exists; throws <see cref="FencedOutException"/> if a newer token has claimed it.
    /// </summary>
    private static async Task<long?> ClaimAsync(NpgsqlConnection server, string projectId, long fencingToken, CancellationToken cancellationToken)
    {
        await using var claim = new NpgsqlCommand("""
            INSERT INTO provisioning.project_databases AS d (project_id, fencing_token) VALUES ($1, $2)
            ON CONFLICT (project_id) DO UPDATE SET fencing_token = excluded.fencing_token
                WHERE d.fencing_token <= excluded.fencing_token
            RETURNING created_under IS NOT NULL, created_under
            """, server);
        claim.Parameters.AddWithValue(projectId);
        claim.Parameters.AddWithValue(fencingToken);
        await using var reader = await claim.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw new FencedOutException($"Project {projectId}: a holder newer than fencing token {fencingToken} has claimed its database.");
        }
        return reader.GetBoolean(0) ? reader.GetInt64(1) : null;
    }

    private async Task RecordProjectAsync(string database, string projectId, long fencingToken, CancellationToken cancellationToken)
    {
        // Not pooled: the rename needs nobody connected to the temporary database.
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Database = database, Pooling = false };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await ExecuteAsync(connection,
            "CREATE TABLE project (id text PRIMARY KEY, provisioned_at timestamptz NOT NULL, fencing_token bigint NOT NULL)", cancellationToken);
        await using var command = new NpgsqlCommand("INSERT INTO project VALUES ($1, now(), $2)", connection);
        command.Parameters.AddWithValue(projectId);
        command.Parameters.AddWithValue(fencingToken);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The fenced write: renames the temporary database into place only if no newer token has claimed the project.</summary>
    private static async Task CommitAsync(NpgsqlConnection server, string projectId, long fencingToken, string temporary, string name,
        CancellationToken cancellationToken)
    {
        await using var transaction = await server.BeginTransactionAsync(cancellationToken);
        await using (var check = new NpgsqlCommand(
            "SELECT fencing_token, created_under FROM provisioning.project_databases WHERE project_id = $1 FOR UPDATE", server, transaction))
        {
            check.Parameters.AddWithValue(projectId);
            await using var reader = await check.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            if (reader.GetInt64(0) != fencingToken || !reader.IsDBNull(1))
            {
                throw new FencedOutException(
                    $"Project {projectId}: fencing token {fencingToken} was superseded by {reader.GetInt64(0)} before its database was committed.");
            }
        }
        await ExecuteAsync(server, $"ALTER DATABASE {Quote(temporary)} RENAME TO {Quote(name)}", cancellationToken, transaction);
        await using (var record = new NpgsqlCommand(
            "UPDATE provisioning.project_databases SET created_under = $2 WHERE project_id = $1", server, transaction))
        {
            record.Parameters.AddWithValue(projectId);
            record.Parameters.AddWithValue(fencingToken);
            await record.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, NpgsqlTransaction? transaction = null)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
