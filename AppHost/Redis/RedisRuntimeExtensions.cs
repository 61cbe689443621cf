using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AppHost.Redis;

public static class RedisRuntimeExtensions
{
    private static readonly TimeSpan EngineProbeTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Adds the one Redis resource every service references. Publishing always emits the Redis container
    /// (so <c>azd up</c> deploys it); running picks a runtime from <c>Redis:Runtime</c>
    /// (<c>auto</c> | <c>container</c> | <c>local</c> | <c>garnet</c> | <c>cluster</c>), see <see cref="RedisRuntimeSelector"/>.
    /// <c>Redis:Persistence</c> = <c>none</c> (default) | <c>aof</c> turns on the append-only file.
    /// </summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddRedisRuntime(
        this IDistributedApplicationBuilder builder, [ResourceName] string name)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);

        var settings = builder.Configuration.GetSection("Redis");
        var aof = ReadPersistence(settings["Persistence"]);
        var choice = RedisRuntimeSelector.Select(
            settings["Runtime"],
            builder.ExecutionContext.IsPublishMode,
            () => MachineProbes.ContainerEngineAnswers(EngineProbeTimeout),
            () => MachineProbes.FindOnPath("redis-server"));

        IResourceBuilder<IResourceWithConnectionString> redis;
        if (choice.Kind == RedisRuntimeKind.Container)
        {
            var container = builder.AddRedis(name);
            if (aof && builder.ExecutionContext.IsRunMode)
            {
                container.WithDataVolume().WithArgs("--appendonly", "yes", "--appendfsync", "always");
            }
            redis = container;
        }
        else if (choice.Kind == RedisRuntimeKind.Cluster)
        {
            if (aof)
            {
                throw new DistributedApplicationException(
                    "Redis:Persistence=aof is not offered with Redis:Runtime=cluster (its nodes keep no files; a replica " +
                    "holds each master's copy). Set Redis:Persistence=none, or Redis:Runtime=local or container.");
            }
            var redisCli = MachineProbes.FindOnPath("redis-cli") ?? throw new DistributedApplicationException(
                "Redis:Runtime is 'cluster' but redis-cli, which forms the cluster, is not on PATH. " +
                "Install it (Debian/Ubuntu: sudo apt-get install redis-tools; macOS: brew install redis).");
            redis = builder.AddRedisCluster(name, choice.RedisServerPath!, redisCli);
        }
        else if (choice.Kind == RedisRuntimeKind.Local)
        {
            redis = builder.AddLocalServer(name, choice.RedisServerPath!, settings["DataDirectory"], (args, port, password) =>
            {
                // RDB snapshots off; the append-only file only when asked for, synced on every write so that nothing
                // Redis acknowledged (a session, an enqueued job) is lost when it is killed.
                Add(args, "--port", port, "--bind", "127.0.0.1", "--requirepass", password,
                    "--save", "", "--appendonly", aof ? "yes" : "no");
                if (aof)
                {
                    Add(args, "--appendfsync", "always");
                }
            });
        }
        else
        {
            if (aof)
            {
                // Garnet 2.2.8's --aof with a working directory failed on writes in our trial: not offered rather than half-working.
                throw new DistributedApplicationException(
                    "Redis:Persistence=aof is available with the container and local (redis-server) runtimes, not with Garnet. " +
                    "Set Redis:Persistence=none, or Redis:Runtime=local or container.");
            }
            redis = builder.AddLocalServer(name, MachineProbes.FindOnPath("dotnet") ?? "dotnet", settings["DataDirectory"], (args, port, password) =>
            {
                // Lua on, and each script run as a transaction over its KEYS: without it Garnet interleaves a
                // script's commands with other clients' (Redis never does; see ServerConformanceTests).
                Add(args, "tool", "exec", $"garnet-server@{GarnetServerVersion}", "--yes", "--",
                    "--port", port, "--bind", "127.0.0.1", "--auth", "Password", "--password", password,
                    "--lua", "--lua-transaction-mode");
            });
        }

        redis.WithAnnotation(new RedisRuntimeAnnotation(choice))
            .WithRuntimeOnConsole($"{choice.Kind}, persistence {(aof ? "aof" : "none")}", choice.Reason);
        // The choice and its reason are the first line of the resource's console log in the dashboard.
        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(redis.Resource, (e, _) =>
        {
            e.Services.GetRequiredService<ResourceLoggerService>().GetLogger(e.Resource)
                .LogInformation("Redis runtime: {Kind} ({Reason}); persistence: {Persistence}",
                    choice.Kind, choice.Reason, aof ? "aof" : "none");
            return Task.CompletedTask;
        });
        return redis;
    }

    /// <summary>The garnet-server tool version, from Directory.Build.props (GarnetServerVersion).</summary>
    private static string GarnetServerVersion => typeof(RedisRuntimeExtensions).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "GarnetServerVersion").Value!;

    /// <summary>
    /// A Redis-protocol server run by the orchestrator as an executable: its port chosen by the orchestrator and
    /// bound to 127.0.0.1, a generated password, its own working directory, and a PING health check so that
    /// <c>WaitFor</c> waits for a server that answers. <paramref name="addArgs"/> writes the server's command line.
    /// </summary>
    private static IResourceBuilder<LocalRedisResource> AddLocalServer(
        this IDistributedApplicationBuilder builder, string name, string command, string? dataDirectory,
        Action<IList<object>, object, object> addArgs)
    {
        // No special characters: StackExchange.Redis splits its connection string on commas.
        var password = builder.AddParameter($"{name}-password",
            new GenerateParameterDefault { MinLength = 22, Special = false }, secret: true);

        // Stable per AppHost, so an append-only file survives restarts of the AppHost.
        var workingDirectory = dataDirectory ?? Path.Combine(Path.GetTempPath(), "aspire-redis",
            $"{name}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(builder.AppHostDirectory)))[..12]}");
        Directory.CreateDirectory(workingDirectory);

        var redis = new LocalRedisResource(name, command, workingDirectory, password.Resource);

        string? connectionString = null;
        builder.Eventing.Subscribe<ConnectionStringAvailableEvent>(redis, async (_, ct) =>
            connectionString = await redis.ConnectionStringExpression.GetValueAsync(ct));

        var healthCheckKey = $"{name}_check";
        builder.Services.AddHealthChecks().AddRedis(
            _ => connectionString ?? throw new InvalidOperationException($"The '{name}' connection string is not available yet."),
            name: healthCheckKey);

        return builder.AddResource(redis)
            .WithEndpoint(name: LocalRedisResource.PrimaryEndpointName, scheme: "redis", isProxied: false)
            .WithHealthCheck(healthCheckKey)
            .WithArgs(context => addArgs(context.Args,
                redis.PrimaryEndpoint.Property(EndpointProperty.TargetPort), redis.PasswordParameter));
    }

    private static void Add(IList<object> args, params object[] values)
    {
        foreach (var value in values)
        {
            args.Add(value);
        }
    }

    private static bool ReadPersistence(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "none" => false,
        "aof" => true,
        _ => throw new DistributedApplicationException(
            $"Redis:Persistence is '{value}'. Allowed values: none, aof."),
    };
}
