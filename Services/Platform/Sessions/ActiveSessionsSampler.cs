using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Platform.Hosting;
using StackExchange.Redis;

namespace Platform.Sessions;

/// <summary>
/// Feeds the <c>sessions.active</c> gauge: every 30 s, counts session keys with SCAN (never KEYS). The cost
/// grows with the keyspace, so exactly one service (auth) runs it.
/// </summary>
public sealed class ActiveSessionsSampler(IConnectionMultiplexer redis, SessionTelemetry telemetry, ILogger<ActiveSessionsSampler> logger)
    : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // A sample is a gauge, not a trace: its SCAN pages are not exported as spans.
        using var quiet = Untraced.Begin();
        using var timer = new PeriodicTimer(Interval);
        do
        {
            try
            {
                long count = 0;
                foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
                {
                    await foreach (var _ in server.KeysAsync(pattern: SessionKeys.ScanPattern, pageSize: 1000).WithCancellation(stoppingToken))
                    {
                        count++;
                    }
                }
                telemetry.ReportActiveSessions(count);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Anything at all, a timeout above all (RedisTimeoutException is no RedisException): an exception
                // leaving ExecuteAsync stops the whole host, and a gauge is not worth auth's sign-ins.
                logger.LogDebug("Could not count active sessions: {Message}", e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
