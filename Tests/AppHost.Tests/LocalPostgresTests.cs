using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using static AppHost.Tests.GatewayClient;

namespace AppHost.Tests;

/// <summary>
/// The system on <c>Database:Runtime=local</c>: postgres from PATH run by the orchestrator, its data directory in a
/// temporary folder of this fixture, and two api replicas (behind the orchestrator's proxy) sharing its
/// <c>projects</c> database. Needs postgres on PATH (CI has it); without it, and outside CI, <see cref="Unavailable"/>
/// says why and the tests are skipped.
/// </summary>
public sealed class LocalPostgresFixture : DistributedAppFixture
{
    public const int ApiReplicas = 2;
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("apphost-postgres-");

    public string? Unavailable { get; private set; }

    protected override string[] Arguments => ["--Database:Runtime=local", $"--Database:DataDirectory={_data.FullName}"];

    public override async Task InitializeAsync()
    {
        if (AppHost.Database.DatabaseRuntimeSelector.FindPostgresBinDirectory() is null && Environment.GetEnvironmentVariable("CI") is null)
        {
            Unavailable = "postgres is not on PATH (Database:Runtime=local runs it); install it to run these tests: " +
                "sudo apt-get install postgresql, then put /usr/lib/postgresql/<version>/bin on PATH.";
            return;
        }
        await base.InitializeAsync();
        await WaitHealthyAsync("postgres", CancellationToken.None).WaitAsync(StartTimeout);
    }

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        base.Configure(builder);
        builder.CreateResourceBuilder<ProjectResource>("api")
            .WithEndpoint("http", endpoint =>
            {
                endpoint.IsProxied = true;
                endpoint.TargetPort = null;
            })
            .WithReplicas(ApiReplicas);
    }

    /// <summary>Stops the whole AppHost and starts it again on the same data directory (Redis starts empty).</summary>
    public async Task RestartAsync()
    {
        await base.DisposeAsync();
        await base.InitializeAsync();
    }

    /// <summary>Clients of each api replica on its own.</summary>
    public Task<HttpClient[]> CreateReplicaClientsAsync() => ClientsOfEachApiReplicaAsync(ApiReplicas);

    public override async Task DisposeAsync()
    {
        try
        {
            await base.DisposeAsync();
        }
        finally
        {
            _data.Delete(recursive: true);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class LocalPostgresCollection : ICollectionFixture<LocalPostgresFixture>
{
    public const string Name = "local postgres";
}

[Collection(LocalPostgresCollection.Name)]
public sealed class LocalPostgresTests(LocalPostgresFixture system)
{
    [SkippableFact]
    public async Task AProjectCreatedThroughOneApiReplicaIsListedThroughTheOtherAtOnce()
    {
        Skip.If(system.Unavailable is not null, system.Unavailable);
        var replicas = await system.CreateReplicaClientsAsync();
        using var gateway = system.CreateGatewayClient();
        var user = await SignedInAsync(gateway);

        var created = await replicas[0].CreateProjectAsync(user.Token, "seen by both");

        var listed = await replicas[1].GetAsync<ProjectSummary[]>("/api/projects", user.Token);
        Assert.Equal([created.Id], listed.Select(p => p.Id));
        var detail = await replicas[1].GetAsync<Project>($"/api/projects/{created.Id}", user.Token);
        Assert.Equal("seen by both", detail.Name);
        foreach (var replica in replicas)
        {
            replica.Dispose();
        }
    }

    /// <summary>
    /// Sign-in, a project and a deployment on PostgreSQL; then the AppHost stops and starts again on the same data
    /// directory (a new generated password, an empty Redis): the user signs in with the same password and finds the
    /// project and its deployment.
    /// </summary>
    [SkippableFact]
    public async Task UsersProjectsAndDeploymentsSurviveAnAppHostRestart()
    {
        Skip.If(system.Unavailable is not null, system.Unavailable);
        var email = NewEmail();
        string projectId, jobId;
        using (var gateway = system.CreateGatewayClient())
        {
            await gateway.RegisterAsync(email);
            var owner = await gateway.LoginAsync(email);
            projectId = (await gateway.CreateProjectAsync(owner.Token, "survivor")).Id;
            using var deploy = await DeploymentTests.PostAsync(gateway, $"/api/projects/{projectId}/deployments", owner.Token,
                new { branch = "main", environment = "production" });
            Assert.Equal(HttpStatusCode.Accepted, deploy.StatusCode);
            jobId = (await deploy.Content.ReadFromJsonAsync<DeploymentTests.Accepted>())!.JobId;
            await DeploymentTests.WaitForJobAsync(gateway, jobId, owner.Token, "completed");
        }

        await system.RestartAsync();

        using var restarted = system.CreateGatewayClient();
        var again = await restarted.LoginAsync(email);
        var projects = await restarted.GetAsync<ProjectSummary[]>("/api/projects", again.Token);
        Assert.Equal([(projectId, "survivor", "owner")], projects.Select(p => (p.Id, p.Name, p.Role)));
        var deployments = await restarted.GetAsync<JsonElement[]>($"/api/projects/{projectId}/deployments", again.Token);
        Assert.Equal([jobId], deployments.Select(d => d.GetProperty("jobId").GetString()));
    }
}
