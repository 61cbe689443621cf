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
    /// (<c>auto</c> | <c>container</c> | <c>local</c>), see <see cref="RedisRuntimeSelector"/>.
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
                container.WithDataVolume().WithArgs("--appendonly", "yes");
            }
            redis = container;
        }
        else
        {
            redis = builder.AddLocalRedis(name, choice.RedisServerPath!, aof, settings["DataDirectory"]);
        }

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

    private static IResourceBuilder<LocalRedisResource> AddLocalRedis(
        this IDistributedApplicationBuilder builder, string name, string redisServerPath, bool aof, string? dataDirectory)
    {
        // No special characters: StackExchange.Redis splits its connection string on commas.
        var password = builder.AddParameter($"{name}-password",
            new GenerateParameterDefault { MinLength = 22, Special = false }, secret: true);

        // Stable per AppHost, so an append-only file survives restarts of the AppHost.
        var workingDirectory = dataDirectory ?? Path.Combine(Path.GetTempPath(), "aspire-redis",
            $"{name}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(builder.AppHostDirectory)))[..12]}");
        Directory.CreateDirectory(workingDirectory);

        var redis = new LocalRedisResource(name, redisServerPath, workingDirectory, password.Resource);

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
            .WithArgs(context =>
            {
                context.Args.Add("--port");
                context.Args.Add(redis.PrimaryEndpoint.Property(EndpointProperty.TargetPort));
                context.Args.Add("--bind");
                context.Args.Add("127.0.0.1");
                context.Args.Add("--requirepass");
                context.Args.Add(redis.PasswordParameter);
                // RDB snapshots off; the append-only file only when asked for.
                context.Args.Add("--save");
                context.Args.Add("");
                context.Args.Add("--appendonly");
                context.Args.Add(aof ? "yes" : "no");
            });
    }

    private static bool ReadPersistence(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "none" => false,
        "aof" => true,
        _ => throw new DistributedApplicationException(
            $"Redis:Persistence is '{value}'. Allowed values: none, aof."),
    };
}
