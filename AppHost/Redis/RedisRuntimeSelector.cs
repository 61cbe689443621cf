using Aspire.Hosting;

namespace AppHost.Redis;

/// <summary>
/// Decides how the <c>redis</c> resource runs, from the <c>Redis:Runtime</c> setting and what this machine has.
/// Pure apart from the two probes it is given, so every branch is testable without a container engine.
/// </summary>
public static class RedisRuntimeSelector
{
    public const string Auto = "auto";
    public const string Container = "container";
    public const string Local = "local";
    public const string Garnet = "garnet";
    public const string Cluster = "cluster";
    public static readonly IReadOnlyList<string> AllowedValues = [Auto, Container, Local, Garnet, Cluster];

    /// <param name="setting">The <c>Redis:Runtime</c> value; null or empty means <c>auto</c>.</param>
    /// <param name="isPublishMode">True when writing a deployment manifest: always the container.</param>
    /// <param name="containerEngineAnswers">Probe: does a Docker or Podman engine answer?</param>
    /// <param name="findRedisServer">Probe: the full path of <c>redis-server</c>, or null.</param>
    /// <remarks><c>auto</c> never fails: Garnet needs only the .NET SDK that runs the AppHost.</remarks>
    public static RedisRuntimeChoice Select(
        string? setting,
        bool isPublishMode,
        Func<bool> containerEngineAnswers,
        Func<string?> findRedisServer)
    {
        ArgumentNullException.ThrowIfNull(containerEngineAnswers);
        ArgumentNullException.ThrowIfNull(findRedisServer);

        var runtime = string.IsNullOrWhiteSpace(setting) ? Auto : setting.Trim().ToLowerInvariant();
        if (!AllowedValues.Contains(runtime))
        {
            throw new DistributedApplicationException(
                $"Redis:Runtime is '{setting}', which is not a runtime this AppHost knows. " +
                $"Allowed values: {string.Join(", ", AllowedValues)}.");
        }

        if (isPublishMode)
        {
            return new(RedisRuntimeKind.Container, "publishing: deployments always use the Redis container");
        }

        if (runtime == Container)
        {
            return new(RedisRuntimeKind.Container, "Redis:Runtime is 'container'");
        }

        if (runtime == Garnet)
        {
            return new(RedisRuntimeKind.Garnet, "Redis:Runtime is 'garnet'");
        }

        if (runtime == Local)
        {
            var path = findRedisServer() ?? throw new DistributedApplicationException(
                "Redis:Runtime is 'local' but no redis-server was found on PATH. " +
                "Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) " +
                "or set Redis:Runtime to 'container' or 'auto'.");
            return new(RedisRuntimeKind.Local, $"Redis:Runtime is 'local': {path}", path);
        }

        if (runtime == Cluster)
        {
            var path = findRedisServer() ?? throw new DistributedApplicationException(
                "Redis:Runtime is 'cluster' but no redis-server was found on PATH (the cluster is six redis-server nodes " +
                "formed by redis-cli). Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis).");
            return new(RedisRuntimeKind.Cluster, $"Redis:Runtime is 'cluster': six nodes of {path}", path);
        }

        if (containerEngineAnswers())
        {
            return new(RedisRuntimeKind.Container, "auto: a container engine answered");
        }

        if (findRedisServer() is { } found)
        {
            return new(RedisRuntimeKind.Local, $"auto: no container engine answered; using {found}", found);
        }

        return new(RedisRuntimeKind.Garnet,
            "auto: no container engine answered and no redis-server is on PATH; using embedded Garnet " +
            "(for Redis itself, start Docker or install redis-server)");
    }
}
