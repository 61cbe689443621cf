using Api.Outbox;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace Api.Projects;

public static class ProjectsSetup
{
    /// <summary>
    /// The projects database: a SQLite file, <c>ConnectionStrings:projects</c> or <c>App_Data/projects.db</c> under
    /// the content root (shared by the api replicas of one machine).
    /// </summary>
    public static WebApplicationBuilder AddProjects(this WebApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString("projects")
            ?? $"Data Source={Path.Combine(builder.Environment.ContentRootPath, "App_Data", "projects.db")}";
        builder.Services.AddDbContextPool<ProjectsDb>(options => options.UseSqlite(connectionString));
        builder.Services.AddSingleton<OutboxDispatcher>();
        builder.Services.AddHostedService<OutboxDispatcherService>();
        return builder;
    }

    /// <summary>Creates the database and its tables if needed (projects, members, deployments, outbox), in WAL mode.</summary>
    public static async Task InitializeProjectsAsync(this WebApplication app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ProjectsDb>();
        if (db.Database.GetDbConnection().DataSource is { Length: > 0 } file && Path.GetDirectoryName(Path.GetFullPath(file)) is { } folder)
        {
            Directory.CreateDirectory(folder);
        }

        // Replicas start together and race to create the tables: the loser's CREATE fails (or finds the file
        // locked), and its next look finds the tables the winner committed.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await db.Database.EnsureCreatedAsync();
                break;
            }
            catch (SqliteException e) when (attempt < 5)
            {
                app.Logger.LogInformation("Creating the projects tables raced another replica ({Message}); looking again.", e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt));
            }
        }
        // A database created before the outbox existed lacks its table (EnsureCreated does nothing to an existing
        // file): add it, exactly as the model defines it.
        var createOutbox = db.Database.GenerateCreateScript().Split(';')
            .Single(statement => statement.Contains($"CREATE TABLE \"{nameof(ProjectsDb.OutboxMessages)}\"", StringComparison.Ordinal))
            .Replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", StringComparison.Ordinal);
        await db.Database.ExecuteSqlRawAsync(createOutbox);
        // Readers do not wait for a writer, and writers of two replicas wait for each other (busy timeout).
        await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;");
    }
}
