using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AppHost.Redis;

public static class RedisClusterExtensions
{
    /// <summary>
    /// How long a master may be silent before the others fail it over to its replica. Short, so a local failover
    /// takes seconds (Redis's default is 15 s).
    /// </summary>
    public const int NodeTimeoutMilliseconds = 2000;

    public const int Masters = 3;
    public const int ReplicasPerMaster = 1;

    /// <summary>
    /// A local Redis Cluster (<c>Redis:Runtime=cluster</c>): six redis-server executables (<c>{name}-node1..6</c>, three
    /// masters and three replicas, each with its own fresh directory and nodes.conf), a one-shot <c>{name}-create</c>
    /// (<c>redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes</c>) that forms them once all answer, and
    /// <c>{name}</c>, the resource services reference and wait for (healthy: every node says <c>cluster_state:ok</c>).
    /// </summary>
    internal static IResourceBuilder<RedisClusterResource> AddRedisCluster(
        this IDistributedApplicationBuilder builder, string name, string redisServer, string redisCli)
    {
        var password = builder.AddParameter($"{name}-password",
            new GenerateParameterDefault { MinLength = 22, Special = false }, secret: true);
        var cluster = new RedisClusterResource(name, password.Resource);
        // Fresh per run: a nodes.conf from an earlier run names ports the orchestrator has since given to others.
        var runDirectory = Directory.CreateTempSubdirectory("aspire-redis-cluster-").FullName;

        var nodes = new List<IResourceBuilder<LocalRedisResource>>();
        for (var i = 1; i <= Masters * (1 + ReplicasPerMaster); i++)
        {
            var nodeName = $"{name}-node{i}";
            var directory = Directory.CreateDirectory(Path.Combine(runDirectory, nodeName)).FullName;
            var node = new LocalRedisResource(nodeName, redisServer, directory, password.Resource);
            cluster.Nodes.Add(node);
            var healthCheckKey = $"{nodeName}_ping";
            builder.Services.AddHealthChecks().Add(new Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckRegistration(
                healthCheckKey, _ => new RedisNodeHealthCheck(ct => node.ConnectionStringExpression.GetValueAsync(ct).AsTask()), null, null));
            nodes.Add(builder.AddResource(node)
                .WithEndpoint(name: LocalRedisResource.PrimaryEndpointName, scheme: "redis", isProxied: false)
                // The cluster bus on a port of its own: the default (port + 10000) is past 65535 for a port above 55535.
                .WithEndpoint(name: "bus", scheme: "tcp", isProxied: false)
                .WithHealthCheck(healthCheckKey)
                .WithParentRelationship(cluster)
                .WithArgs(context =>
                {
                    foreach (var arg in new object[]
                    {
                        "--port", node.PrimaryEndpoint.Property(EndpointProperty.TargetPort), "--bind", "127.0.0.1",
                        "--requirepass", password.Resource, "--masterauth", password.Resource,
                        "--save", "", "--appendonly", "no",
                        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                        "--cluster-node-timeout", NodeTimeoutMilliseconds.ToString(),
                        "--cluster-port", node.GetEndpoint("bus").Property(EndpointProperty.TargetPort),
                    })
                    {
                        context.Args.Add(arg);
                    }
                }));
        }

        var create = builder.AddExecutable($"{name}-create", redisCli, runDirectory)
            .WithParentRelationship(cluster)
            // The password through the environment: on the command line redis-cli warns, and ps would show it.
            .WithEnvironment("REDISCLI_AUTH", password)
            .WithArgs(context =>
            {
                context.Args.Add("--cluster");
                context.Args.Add("create");
                foreach (var node in cluster.Nodes)
                {
                    context.Args.Add(node.PrimaryEndpoint.Property(EndpointProperty.HostAndPort));
                }
                context.Args.Add("--cluster-replicas");
                context.Args.Add(ReplicasPerMaster.ToString());
                context.Args.Add("--cluster-yes");
            });
        foreach (var node in nodes)
        {
            create.WaitFor(node);
        }

        // cluster_state:ok on every node: all slots served (the client library's Redis check asks each endpoint).
        string? connectionString = null;
        builder.Eventing.Subscribe<ConnectionStringAvailableEvent>(cluster, async (_, ct) =>
            connectionString = await cluster.ConnectionStringExpression.GetValueAsync(ct));
        var clusterCheckKey = $"{name}_cluster_state";
        builder.Services.AddHealthChecks().AddRedis(
            _ => connectionString ?? throw new InvalidOperationException($"The '{name}' connection string is not available yet."),
            name: clusterCheckKey);

        builder.Eventing.Subscribe<InitializeResourceEvent>(cluster, (e, ct) =>
        {
            _ = FollowCreationAsync(e, create.Resource.Name, ct);
            return Task.CompletedTask;
        });

        return builder.AddResource(cluster)
            .WithInitialState(new CustomResourceSnapshot
            {
                ResourceType = "RedisCluster",
                State = KnownResourceStates.Waiting,
                Properties = [new("redis.cluster.masters", Masters), new("redis.cluster.replicas-per-master", ReplicasPerMaster)],
            })
            .WithHealthCheck(clusterCheckKey);
    }

    /// <summary>The cluster is Running once <c>{name}-create</c> exited with 0; FailedToStart if it failed.</summary>
    private static async Task FollowCreationAsync(InitializeResourceEvent e, string create, CancellationToken cancellationToken)
    {
        var resource = (RedisClusterResource)e.Resource;
        await e.Eventing.PublishAsync(new BeforeResourceStartedEvent(resource, e.Services), cancellationToken);
        var finished = await e.Notifications.WaitForResourceAsync(create,
            r => KnownResourceStates.TerminalStates.Contains(r.Snapshot.State?.Text), cancellationToken);
        if (finished.Snapshot.ExitCode == 0)
        {
            await e.Eventing.PublishAsync(new ConnectionStringAvailableEvent(resource, e.Services), cancellationToken);
            await e.Notifications.PublishUpdateAsync(resource, s => s with
            {
                State = KnownResourceStates.Running,
                StartTimeStamp = DateTime.UtcNow,
            });
            return;
        }
        e.Logger.LogError("{Create} exited with {ExitCode}: the cluster did not form (its console log says why).", create, finished.Snapshot.ExitCode);
        await e.Notifications.PublishUpdateAsync(resource, s => s with { State = KnownResourceStates.FailedToStart });
    }
}
