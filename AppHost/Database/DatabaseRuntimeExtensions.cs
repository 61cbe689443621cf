using System.Security.Cryptography;
using System.Text;
using AppHost.Redis;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AppHost.Database;

public static class DatabaseRuntimeExtensions
{
    public const string ServerName = "postgres";
    public const string UsersDatabase = "users";
    public const string ProjectsDatabase = "projects";
    private static readonly TimeSpan EngineProbeTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Adds the store of record. Publishing always emits the PostgreSQL container (a data volume, a generated secret
    /// password, databases <c>users</c> and <c>projects</c>), so <c>azd up</c> deploys it; running picks a runtime from
    /// <c>Database:Runtime</c> (<c>auto</c> | <c>container</c> | <c>local</c> | <c>sqlite</c>), see
    /// <see cref="DatabaseRuntimeSelector"/>. The choice and its reason are logged on the AppHost's console and, on
    /// PostgreSQL, first in the server's console log.
    /// </summary>
    public static DatabaseResources AddDatabaseRuntime(this IDistributedApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var settings = builder.Configuration.GetSection("Database");
        var choice = DatabaseRuntimeSelector.Select(
            settings["Runtime"],
            builder.ExecutionContext.IsPublishMode,
            () => MachineProbes.ContainerEngineAnswers(EngineProbeTimeout),
            DatabaseRuntimeSelector.FindPostgresBinDirectory);

        builder.PrintRuntimeOnConsole("database", choice.Kind.ToString(), choice.Reason);

        if (choice.Kind == DatabaseRuntimeKind.Sqlite)
        {
            return new DatabaseResources(choice, null, null, null);
        }

        if (choice.Kind == DatabaseRuntimeKind.Container)
        {
            var container = builder.AddPostgres(ServerName).WithDataVolume();
            LogChoiceFirst(builder, container.Resource, choice);
            return new DatabaseResources(choice, container, container.AddDatabase(UsersDatabase), container.AddDatabase(ProjectsDatabase));
        }

        var local = builder.AddLocalPostgres(ServerName, choice.PostgresBinDirectory!, settings["DataDirectory"]);
        LogChoiceFirst(builder, local.Resource, choice);
        return new DatabaseResources(choice, local,
            builder.AddResource(new LocalPostgresDatabaseResource(UsersDatabase, UsersDatabase, local.Resource)),
            builder.AddResource(new LocalPostgresDatabaseResource(ProjectsDatabase, ProjectsDatabase, local.Resource)));
    }

    /// <summary>
    /// Gives <paramref name="project"/> the connection string of <paramref name="database"/> (as
    /// <c>ConnectionStrings:{name}</c>) and waits for the server to answer; on SQLite (null) it changes nothing.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithDatabase(this IResourceBuilder<ProjectResource> project,
        IResourceBuilder<IResourceWithConnectionString>? database, DatabaseResources databases)
    {
        if (database is null || databases.Server is null)
        {
            return project;
        }
        return project.WithReference(database).WaitFor(databases.Server);
    }

    private static void LogChoiceFirst(IDistributedApplicationBuilder builder, IResource server, DatabaseRuntimeChoice choice) =>
        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(server, (e, _) =>
        {
            e.Services.GetRequiredService<ResourceLoggerService>().GetLogger(e.Resource)
                .LogInformation("Database runtime: {Kind} ({Reason})", choice.Kind, choice.Reason);
            return Task.CompletedTask;
        });

    /// <summary>
    /// <c>postgres</c> from <paramref name="binDirectory"/> run by the orchestrator: its port chosen by the
    /// orchestrator and bound to 127.0.0.1, a generated password, its data directory kept across AppHost runs (made by
    /// <c>initdb</c> on the first start), and a health check (<c>SELECT 1</c>) so that <c>WaitFor</c> waits for a
    /// server that answers.
    /// </summary>
    private static IResourceBuilder<LocalPostgresResource> AddLocalPostgres(
        this IDistributedApplicationBuilder builder, string name, string binDirectory, string? dataDirectory)
    {
        var password = builder.AddParameter($"{name}-password",
            new GenerateParameterDefault { MinLength = 22, Special = false }, secret: true);

        // Stable per AppHost, so users and projects survive restarts of the AppHost.
        var workingDirectory = dataDirectory ?? Path.Combine(Path.GetTempPath(), "aspire-postgres",
            $"{name}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(builder.AppHostDirectory)))[..12]}");
        var cluster = new LocalPostgresCluster(binDirectory, workingDirectory);
        cluster.PrepareWorkingDirectory();

        var postgres = new LocalPostgresResource(name, cluster.Command, workingDirectory, password.Resource);

        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(postgres, async (e, ct) =>
        {
            var logger = e.Services.GetRequiredService<ResourceLoggerService>().GetLogger(e.Resource);
            await cluster.InitializeAsync((await password.Resource.GetValueAsync(ct))!, logger, ct);
        });

        string? connectionString = null;
        builder.Eventing.Subscribe<ConnectionStringAvailableEvent>(postgres, async (_, ct) =>
            connectionString = await postgres.ConnectionStringExpression.GetValueAsync(ct));
        var healthCheckKey = $"{name}_check";
        builder.Services.AddHealthChecks().AddNpgSql(
            _ => connectionString ?? throw new InvalidOperationException($"The '{name}' connection string is not available yet."),
            name: healthCheckKey);

        return builder.AddResource(postgres)
            .WithEndpoint(name: LocalPostgresResource.PrimaryEndpointName, scheme: "tcp", isProxied: false)
            .WithHealthCheck(healthCheckKey)
            .WithArgs(context => cluster.AddServerArgs(context.Args, postgres.PrimaryEndpoint.Property(EndpointProperty.TargetPort)));
    }
}
