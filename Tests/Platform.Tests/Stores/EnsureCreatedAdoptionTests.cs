using Microsoft.Data.Sqlite;

namespace Platform.Tests.Stores;

/// <summary>
/// A SQLite database that EnsureCreated made at commit eea6f9f (before migrations and before the outbox) is migrated
/// in place at the next start: its rows stay, the outbox table is added, and its history names every migration.
/// </summary>
public sealed class EnsureCreatedAdoptionTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("store-adoption-").FullName;

    [Fact]
    public async Task AProjectsDatabaseOfTodaysSchemaIsMigratedAndKeepsItsRows()
    {
        var connectionString = $"Data Source={Path.Combine(_directory, "projects.db")}";
        await ExecuteAsync(connectionString, EnsureCreatedSchemas.ProjectsAtEea6f9f + """
            INSERT INTO "Projects" ("Name", "OwnerId", "CreatedAt") VALUES ('legacy', 'u-1', '2026-11-26 17:00:00+00:00');
            INSERT INTO "ProjectMembers" VALUES (1, 'u-1', 'owner', '2026-11-26 17:00:00+00:00');
            INSERT INTO "Deployments" VALUES ('d-1', 1, 'main', 'staging', NULL, 'u-1', 0);
            """);

        await StoreHost.InitializeProjectsAsync(connectionString);
        await StoreHost.InitializeProjectsAsync(connectionString); // a second start finds nothing to do

        Assert.Equal(["legacy"], await QueryAsync(connectionString, "SELECT \"Name\" FROM \"Projects\""));
        Assert.Equal(["u-1"], await QueryAsync(connectionString, "SELECT \"UserId\" FROM \"ProjectMembers\""));
        Assert.Equal(["d-1"], await QueryAsync(connectionString, "SELECT \"Id\" FROM \"Deployments\""));
        Assert.Equal(["Initial", "Outbox", "OutboxParking"], (await QueryAsync(connectionString,
            "SELECT \"MigrationId\" FROM \"__EFMigrationsHistory\" ORDER BY \"MigrationId\"")).Select(id => id[(id.IndexOf('_') + 1)..]));
        // The outbox table the later migrations made takes rows.
        await ExecuteAsync(connectionString, "INSERT INTO \"OutboxMessages\" (\"Kind\", \"Payload\", \"CreatedAt\", \"Attempts\") VALUES ('job', '{}', '2026-11-30', 0)");
    }

    [Fact]
    public async Task AProjectsDatabaseThatAlreadyHadItsOutboxTableIsAdoptedWithoutCreatingItAgain()
    {
        var connectionString = $"Data Source={Path.Combine(_directory, "projects.db")}";
        await ExecuteAsync(connectionString, EnsureCreatedSchemas.ProjectsAtEea6f9f + """
            CREATE TABLE "OutboxMessages" ("Id" INTEGER NOT NULL CONSTRAINT "PK_OutboxMessages" PRIMARY KEY AUTOINCREMENT,
                "Kind" TEXT NOT NULL, "Payload" TEXT NOT NULL, "CreatedAt" TEXT NOT NULL, "Attempts" INTEGER NOT NULL, "LastError" TEXT NULL);
            INSERT INTO "OutboxMessages" ("Kind", "Payload", "CreatedAt", "Attempts") VALUES ('job', '{"queue":"provision"}', '2026-11-29', 0);
            """);

        await StoreHost.InitializeProjectsAsync(connectionString);

        // Its row stays, waiting to be sent (not parked), and the later migration (OutboxParking) ran on it.
        Assert.Equal(["{\"queue\":\"provision\"} pending"], await QueryAsync(connectionString,
            "SELECT \"Payload\" || CASE WHEN \"ParkedAt\" IS NULL THEN ' pending' ELSE ' parked' END FROM \"OutboxMessages\""));
        Assert.Equal(3, (await QueryAsync(connectionString, "SELECT \"MigrationId\" FROM \"__EFMigrationsHistory\"")).Count);
    }

    [Fact]
    public async Task AUsersDatabaseOfTodaysSchemaIsMigratedAndKeepsItsUsers()
    {
        var connectionString = $"Data Source={Path.Combine(_directory, "users.db")}";
        await ExecuteAsync(connectionString, EnsureCreatedSchemas.UsersAtEea6f9f + """
            INSERT INTO "Users" ("Email", "NormalizedEmail", "Name", "PasswordHash", "Tier", "CreatedAt")
            VALUES ('Ada@example.com', 'ada@example.com', 'Ada', 'hash', 'premium', '2026-11-26 17:00:00+00:00');
            """);

        await StoreHost.InitializeUsersAsync(connectionString);

        Assert.Equal(["ada@example.com premium", "admin@example.com admin"],
            await QueryAsync(connectionString, "SELECT \"NormalizedEmail\" || ' ' || \"Tier\" FROM \"Users\" ORDER BY \"Id\""));
        Assert.Single(await QueryAsync(connectionString, "SELECT \"MigrationId\" FROM \"__EFMigrationsHistory\""));
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new SqliteConnection(connectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<List<string>> QueryAsync(string connectionString, string sql)
    {
        await using var connection = new SqliteConnection(connectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }
        return rows;
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }
}
