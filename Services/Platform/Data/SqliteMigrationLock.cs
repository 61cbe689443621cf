using Microsoft.EntityFrameworkCore;

namespace Platform.Data;

/// <summary>
/// Serialises the migrations of one SQLite file across processes with a lock the operating system releases when its
/// holder dies: an exclusive open of <c>&lt;file&gt;.migrations.lock</c> beside it. EF Core's own SQLite lock is a row
/// in <c>__EFMigrationsLock</c> that nothing removes when its process is killed (Ctrl+C during a first start, an
/// orchestrator stopping the app seconds after starting it), after which every <c>MigrateAsync</c> waits for it
/// forever. Every migrator takes this lock first, so a row found while holding it is such a leftover: it is
/// removed, and EF Core's lock is then taken at once.
/// </summary>
internal sealed class SqliteMigrationLock : IAsyncDisposable
{
    private static readonly TimeSpan Retry = TimeSpan.FromMilliseconds(100);
    private readonly FileStream _file;

    private SqliteMigrationLock(FileStream file) => _file = file;

    /// <summary>Waits (as long as <paramref name="cancellationToken"/> allows) until no other process migrates <paramref name="databaseFile"/>.</summary>
    public static async Task<SqliteMigrationLock> AcquireAsync(string databaseFile, CancellationToken cancellationToken)
    {
        var path = databaseFile + ".migrations.lock";
        while (true)
        {
            try
            {
                return new SqliteMigrationLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException)
            {
                // Held by another process (a replica migrating now): it is released when that one finishes or dies.
                await Task.Delay(Retry, cancellationToken);
            }
        }
    }

    /// <summary>Removes EF Core's lock row, which only a dead migrator can have left while this lock is held. True if there was one.</summary>
    public static async Task<bool> RemoveLeftoverEfLockAsync(DbContext db, CancellationToken cancellationToken)
    {
        var tables = await db.Database.SqlQueryRaw<long>(
            "SELECT count(*) AS \"Value\" FROM sqlite_master WHERE type = 'table' AND name = '__EFMigrationsLock'").SingleAsync(cancellationToken);
        return tables > 0 && await db.Database.ExecuteSqlRawAsync("DELETE FROM \"__EFMigrationsLock\"", cancellationToken) > 0;
    }

    public ValueTask DisposeAsync() => _file.DisposeAsync();
}
