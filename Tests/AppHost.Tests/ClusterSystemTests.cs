using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AppHost.Redis;
using Microsoft.Extensions.DependencyInjection;
using Platform.Tests.Notifications;
using StackExchange.Redis;
using static AppHost.Tests.GatewayClient;

namespace AppHost.Tests;

/// <summary>The whole system on <c>Redis:Runtime=cluster</c>: six redis-server nodes formed into a Redis Cluster.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterSystemTests(ClusterFixture system)
{
    [SkippableFact]
    public async Task TheClusterFormsFromSixNodesEachShownAsAResourceAndServicesGetEveryNode()
    {
        Skip.If(system.Unavailable is not null, system.Unavailable);
        var model = system.App.Services.GetRequiredService<DistributedApplicationModel>();
        var redis = model.Resources.OfType<RedisClusterResource>().Single(r => r.Name == "redis");
        Assert.Equal(RedisRuntimeKind.Cluster, redis.Annotations.OfType<RedisRuntimeAnnotation>().Single().Choice.Kind);
        Assert.Equal(6, model.Resources.Count(r => r.Name.StartsWith("redis-node", StringComparison.Ordinal)));

        var connectionString = (await system.App.GetConnectionStringAsync("redis"))!;
        Assert.Equal(6, connectionString.Split(',').Count(part => part.StartsWith("127.0.0.1:", StringComparison.Ordinal)));
        await using var connection = await ConnectionMultiplexer.ConnectAsync(connectionString);
        var servers = connection.GetServers();
        // Six servers, not twelve: the nodes are named as the cluster names them, so none is counted twice.
        Assert.Equal((3, 3), (servers.Count(s => !s.IsReplica), servers.Count(s => s.IsReplica)));
        Assert.All(servers, s => Assert.Equal(ServerType.Cluster, s.ServerType));
    }

    [SkippableFact]
    public async Task SignInACachedReadAndADeploymentWithItsLiveEventsWorkOnTheCluster()
    {
        Skip.If(system.Unavailable is not null, system.Unavailable);
        using var gateway = system.CreateGatewayClient();
        gateway.Timeout = Timeout.InfiniteTimeSpan;
        var owner = await SignedInAsync(gateway);
        foreach (var path in new[] { "/auth/me", "/api/whoami", "/notifications/whoami" })
        {
            using var response = await gateway.GetAsync(path, owner.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var project = await gateway.CreateProjectAsync(owner.Token, "on-a-cluster");
        var miss = await OutputCacheTests.ReadAsync(gateway, $"/api/projects/{project.Id}", owner.Token);
        var hit = await OutputCacheTests.ReadAsync(gateway, $"/api/projects/{project.Id}", owner.Token);
        Assert.Equal(("MISS", "HIT", miss.Body), (miss.Cache, hit.Cache, hit.Body));

        await using var stream = await SseClient.ConnectAsync(gateway, owner.Token);
        using var accepted = await DeploymentTests.PostAsync(gateway, $"/api/projects/{project.Id}/deployments", owner.Token,
            new { branch = "main", environment = "staging" });
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var jobId = (await accepted.Content.ReadFromJsonAsync<DeploymentTests.Accepted>())!.JobId;

        var steps = await stream.ReadEventsAsync(4, TimeSpan.FromSeconds(60));
        Assert.Equal(["queued", "building", "deploying", "succeeded"],
            steps.Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("payload").GetProperty("status").GetString()));
        Assert.Equal("completed", (await DeploymentTests.WaitForJobAsync(gateway, jobId, owner.Token, "completed")).State);
    }
}

/// <summary>
/// The system on <c>Redis:Runtime=cluster</c>. Needs redis-server and redis-cli on PATH (CI installs them); without
/// them, and outside CI, <see cref="Unavailable"/> says why and the tests say so and stop.
/// </summary>
public sealed class ClusterFixture : DistributedAppFixture
{
    public string? Unavailable { get; private set; }

    protected override string[] Arguments => ["--Redis:Runtime=cluster"];

    public override async Task InitializeAsync()
    {
        var missing = new[] { "redis-server", "redis-cli" }.Where(program => !(Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Any(dir => File.Exists(Path.Combine(dir, program)))).ToArray();
        if (missing.Length > 0 && Environment.GetEnvironmentVariable("CI") is null)
        {
            Unavailable = $"{string.Join(" and ", missing)} not on PATH (Redis:Runtime=cluster runs six redis-server nodes " +
                "formed by redis-cli); install them to run this test: sudo apt-get install redis-server.";
            return;
        }
        await base.InitializeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
