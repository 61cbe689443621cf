using Api.Outbox;
using Microsoft.EntityFrameworkCore;
using Platform.Data;

namespace Api.Projects;

public static class ProjectsSetup
{
    /// <summary>
    /// Made by EnsureCreated before migrations existed: the first migration's tables, then the outbox's (which the
    /// start-up code of that time added with CREATE TABLE IF NOT EXISTS).
    /// </summary>
    private static readonly EnsureCreatedBaseline Baseline = new(("Initial", "Projects"), ("Outbox", "OutboxMessages"));

    /// <summary>
    /// The projects database: PostgreSQL when <c>ConnectionStrings:projects</c> names a server (every api replica
    /// then shares it), else a SQLite file (that connection string, or <c>App_Data/projects.db</c> under the content
    /// root, shared by the api replicas of one machine).
    /// </summary>
    public static WebApplicationBuilder AddProjects(this WebApplicationBuilder builder)
    {
        builder.AddStoreOfRecord<ProjectsDb, SqliteProjectsDb, PostgresProjectsDb>("projects",
            Path.Combine(builder.Environment.ContentRootPath, "App_Data", "projects.db"));
        builder.Services.AddSingleton<OutboxDispatcher>();
        builder.Services.AddHostedService<OutboxDispatcherService>();
        return builder;
    }

    /// <summary>Migrates the database (projects, members, deployments, outbox); a SQLite file runs in WAL mode.</summary>
    public static async Task InitializeProjectsAsync(this WebApplication app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ProjectsDb>();
        await StoreMigrator.MigrateAsync(db, Baseline, app.Logger);
        if (db.Database.IsSqlite())
        {
            // Readers do not wait for a writer, and writers of two replicas wait for each other (busy timeout).
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;");
        }
    }
}
