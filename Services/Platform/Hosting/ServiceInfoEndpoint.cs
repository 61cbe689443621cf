using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace Platform.Hosting;

/// <summary>What <c>GET {prefix}/about</c> answers: which service and process served the request, and its Redis round trip.</summary>
public sealed record ServiceInfo(string Service, string Instance, double RedisPingMs);

public static class ServiceInfoEndpoint
{
    // Random per process: tells replicas apart without telling an anonymous caller the host name or the process id.
    private static readonly string Instance = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));

    /// <summary>
    /// Maps <c>GET {prefix}/about</c>: the service's name, this process (a random id, fixed for its lifetime), and a PING to Redis. Through the gateway
    /// it shows which service a path reaches; with Redis down it answers 503 problem+json at once (needs AddPlatformRedis).
    /// </summary>
    public static RouteHandlerBuilder MapServiceInfo(this IEndpointRouteBuilder endpoints, string prefix)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);

        return endpoints.MapGet($"{prefix.TrimEnd('/')}/about", GetServiceInfo).WithName($"{prefix.Trim('/')}-about");
    }

    // Redis errors are answered by RedisOutage (503 problem+json, at once thanks to the fail-fast client).
    private static async Task<Ok<ServiceInfo>> GetServiceInfo(IConnectionMultiplexer redis, IHostEnvironment environment)
    {
        var started = Stopwatch.GetTimestamp();
        await redis.GetDatabase().PingAsync();
        var pingMs = Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 2);
        return TypedResults.Ok(new ServiceInfo(environment.ApplicationName.ToLowerInvariant(), Instance, pingMs));
    }
}
