using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Platform.Data;

/// <summary>
/// Applies a context's EF Core migrations at start-up, safely when several replicas start at once, and first adopts
/// a database that <c>EnsureCreated</c> made before migrations existed (<see cref="EnsureCreatedBaseline"/>).
/// </summary>
public static class StoreMigrator
{
    public static async Task MigrateAsync(DbContext db, EnsureCreatedBaseline baseline, ILogger logger, CancellationToken cancellationToken = default)
    {
        if (db.Database.IsNpgsql())
        {
            await MigratePostgresAsync(db, logger, cancellationToken);
            return;
        }

        if (db.Database.GetDbConnection().DataSource is not { Length: > 0 } file || file == ":memory:")
        {
            await baseline.AdoptAsync(db, logger, cancellationToken);
            await db.Database.MigrateAsync(cancellationToken);
            return;
        }
        file = Path.GetFullPath(file);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        // Replicas on one machine share the file: one migrates at a time, under a lock that dies with its holder
        // (EF Core's own row lock outlives a killed process and then hangs every later start).
        await using var migrating = await SqliteMigrationLock.AcquireAsync(file, cancellationToken);
        if (await SqliteMigrationLock.RemoveLeftoverEfLockAsync(db, cancellationToken))
        {
            logger.LogWarning("Removed the migration lock a stopped migrator left in {File}: migrating", file);
        }
        await baseline.AdoptAsync(db, logger, cancellationToken);
        await db.Database.MigrateAsync(cancellationToken);
    }

    /// <summary>
    /// Under a session advisory lock named for the context: the replica that waits finds the migrations applied. The
    /// lock needs no table, so replicas are serialised from their first statement, before the migration history table
    /// exists (two concurrent creations of a table can collide in PostgreSQL's catalog).
    /// </summary>
    private static async Task MigratePostgresAsync(DbContext db, ILogger logger, CancellationToken cancellationToken)
    {
        // A local server (or a deployment's) starts with no databases: the service makes its own. Replicas racing here
        // lose with "already exists", which is the outcome they wanted.
        var creator = db.GetService<IRelationalDatabaseCreator>();
        if (!await creator.ExistsAsync(cancellationToken))
        {
            try
            {
                await creator.CreateAsync(cancellationToken);
                logger.LogInformation("Created database {Database}", db.Database.GetDbConnection().Database);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase)
            {
            }
        }

        var lockName = $"migrations:{db.GetType().Name}";
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_lock(hashtext({lockName}))", cancellationToken);
            try
            {
                await db.Database.MigrateAsync(cancellationToken);
            }
            finally
            {
                await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_unlock(hashtext({lockName}))", CancellationToken.None);
            }
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }
}
