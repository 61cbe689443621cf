namespace AppHost.Redis;

/// <summary>Where the <c>redis</c> resource's server comes from.</summary>
public enum RedisRuntimeKind
{
    /// <summary>The <c>redis</c> container image, run by Docker or Podman (always used when publishing).</summary>
    Container,

    /// <summary>A <c>redis-server</c> found on PATH, run by the orchestrator as an executable resource.</summary>
    Local,

    /// <summary>
    /// Microsoft Garnet (the <c>garnet-server</c> tool, run with <c>dotnet tool exec</c>) as an executable resource:
    /// needs nothing but the .NET SDK.
    /// </summary>
    Garnet,

    /// <summary>
    /// A local Redis Cluster: six <c>redis-server</c> executables (three masters, three replicas) formed by a one-shot
    /// <c>redis-cli --cluster create</c>; run mode only (publishing takes the container).
    /// </summary>
    Cluster,
}

/// <summary>The runtime that was chosen, and a sentence saying why (logged at start-up, annotated on the resource).</summary>
public sealed record RedisRuntimeChoice(RedisRuntimeKind Kind, string Reason, string? RedisServerPath = null);
