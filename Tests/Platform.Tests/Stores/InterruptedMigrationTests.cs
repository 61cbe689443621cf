using Auth.Users;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Platform.Tests.Stores;

/// <summary>
/// A service stopped while it migrates its SQLite store (Ctrl+C during the first <c>dotnet run</c>, an orchestrator
/// that stops the app seconds after starting it) must not stop every later start. EF Core serialises SQLite
/// migrations with a row in <c>__EFMigrationsLock</c>, which nothing removes when its process dies: the next
/// <c>MigrateAsync</c> waited for it forever (an AppHost test run saw auth never become healthy after another test had
/// started and stopped a system on the same SQLite file).
/// </summary>
public sealed class InterruptedMigrationTests : IDisposable
{
    private static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(30);
    private readonly string _directory = Directory.CreateTempSubdirectory("store-interrupted-").FullName;

    private string ConnectionString => $"Data Source={Path.Combine(_directory, "users.db")}";

    [Theory]
    [InlineData(false)] // killed during the first start: the lock row and nothing else
    [InlineData(true)] // killed during a later start: a migrated store and the lock row
    public async Task AStartAfterAMigratorDiedHoldingTheLockMigratesAndSeedsAtOnce(bool migratedBefore)
    {
        if (migratedBefore)
        {
            await StoreHost.InitializeUsersAsync(ConnectionString);
        }
        await LeaveTheLockOfAKilledMigratorAsync();

        await StoreHost.InitializeUsersAsync(ConnectionString).WaitAsync(StartLimit);

        await using var app = StoreHost.Build("users", ConnectionString, builder => builder.AddUsers());
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<UsersDb>();
        Assert.Equal(db.Database.GetMigrations(), await db.Database.GetAppliedMigrationsAsync());
        Assert.Equal(["admin@example.com"], await db.Users.Select(u => u.NormalizedEmail).ToListAsync());
        Assert.Equal(0L, await ScalarAsync("SELECT count(*) FROM \"__EFMigrationsLock\""));
    }

    [Fact]
    public async Task ReplicasStartingTogetherAfterAKilledMigratorAllStart()
    {
        await LeaveTheLockOfAKilledMigratorAsync();

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => StoreHost.InitializeUsersAsync(ConnectionString))))
            .WaitAsync(StartLimit);

        Assert.Equal(1L, await ScalarAsync("SELECT count(*) FROM \"Users\""));
    }

    /// <summary>What EF Core's SQLite migration lock leaves in the file when its process is killed while holding it.</summary>
    private async Task LeaveTheLockOfAKilledMigratorAsync()
    {
        await ExecuteAsync("""
            CREATE TABLE IF NOT EXISTS "__EFMigrationsLock" ("Id" INTEGER NOT NULL CONSTRAINT "PK___EFMigrationsLock" PRIMARY KEY, "Timestamp" TEXT NOT NULL);
            INSERT OR IGNORE INTO "__EFMigrationsLock" ("Id", "Timestamp") VALUES (1, '2026-11-30 14:03:07.0000000+00:00');
            """);
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private async Task<long> ScalarAsync(string sql)
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)(await command.ExecuteScalarAsync())!;
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }
}
