using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace AppHost.Redis;

/// <summary>
/// One node answers an authenticated PING: all a cluster node can say before the cluster is formed (the cluster's
/// own check, <c>cluster_state:ok</c>, would fail until then).
/// </summary>
internal sealed class RedisNodeHealthCheck(Func<CancellationToken, Task<string?>> connectionString) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var options = ConfigurationOptions.Parse(await connectionString(cancellationToken)
                ?? throw new InvalidOperationException("The node's address is not known yet."));
            options.AbortOnConnectFail = true;
            options.ConnectTimeout = 2000;
            await using var connection = await ConnectionMultiplexer.ConnectAsync(options);
            await connection.GetServer(options.EndPoints[0]).PingAsync();
            return HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is RedisException or InvalidOperationException)
        {
            return HealthCheckResult.Unhealthy(e.Message);
        }
    }
}
