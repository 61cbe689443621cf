using Api.Projects;
using Auth.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Platform.Tests.Postgres;

namespace Platform.Tests.Stores;

/// <summary>
/// Replicas of a service start together on one empty store: each applies the migrations at start-up, every start
/// succeeds, and each migration is applied exactly once. Users (with the admin seeded once) on each engine too.
/// </summary>
public abstract class ConcurrentMigrationTests
{
    private const int Replicas = 4;

    /// <summary>A new, empty store: its connection string (skips the test where the engine is missing).</summary>
    protected abstract Task<string> NewStoreAsync(string name);

    [SkippableFact]
    public async Task ProjectsReplicasStartingTogetherMigrateOnce()
    {
        var connectionString = await NewStoreAsync("projects");

        await Task.WhenAll(Enumerable.Range(0, Replicas).Select(_ => Task.Run(() => StoreHost.InitializeProjectsAsync(connectionString))));

        await using var app = StoreHost.Build("projects", connectionString, builder => builder.AddProjects());
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ProjectsDb>();
        Assert.Equal(db.Database.GetMigrations(), await db.Database.GetAppliedMigrationsAsync());
        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        Assert.Equal(0, await db.Projects.CountAsync());
    }

    [SkippableFact]
    public async Task UsersReplicasStartingTogetherMigrateOnceAndSeedOneAdmin()
    {
        var connectionString = await NewStoreAsync("users");

        await Task.WhenAll(Enumerable.Range(0, Replicas).Select(_ => Task.Run(() => StoreHost.InitializeUsersAsync(connectionString))));

        await using var app = StoreHost.Build("users", connectionString, builder => builder.AddUsers());
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<UsersDb>();
        Assert.Equal(db.Database.GetMigrations(), await db.Database.GetAppliedMigrationsAsync());
        Assert.Equal(["admin@example.com"], await db.Users.Select(u => u.NormalizedEmail).ToListAsync());
    }
}

public sealed class ConcurrentMigrationTestsOnSqlite : ConcurrentMigrationTests, IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("store-migrations-").FullName;

    protected override Task<string> NewStoreAsync(string name) =>
        Task.FromResult($"Data Source={Path.Combine(_directory, $"{name}.db")}");

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }
}

[Collection(PostgresCollection.Name)]
public sealed class ConcurrentMigrationTestsOnPostgres(PostgresServerFixture postgres) : ConcurrentMigrationTests
{
    protected override async Task<string> NewStoreAsync(string name)
    {
        Skip.If(postgres.Unavailable is not null, postgres.Unavailable);
        return postgres.Server!.ConnectionString(await postgres.Server.CreateDatabaseAsync(name));
    }
}
