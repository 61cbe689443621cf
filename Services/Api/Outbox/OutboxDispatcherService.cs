using Platform.Hosting;

namespace Api.Outbox;

/// <summary>
/// Dispatches the outbox at start-up (what a crash after a commit left unsent) and then every
/// <c>Projects:OutboxPollInterval</c> (default 5 s; what an outage left). Never stops its host: any failure is
/// logged and the next pass tries again.
/// </summary>
public sealed class OutboxDispatcherService(OutboxDispatcher dispatcher, IConfiguration configuration, ILogger<OutboxDispatcherService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = configuration.GetValue("Projects:OutboxPollInterval", TimeSpan.FromSeconds(5));
        do
        {
            try
            {
                // The poll is housekeeping: on PostgreSQL each would be a root trace (the Npgsql instrumentation's
                // query span) every interval of an idle system. A pass that finds rows is traced.
                bool pending;
                using (Untraced.Begin())
                {
                    pending = await dispatcher.HasPendingAsync(stoppingToken);
                }
                var sent = pending ? await dispatcher.DispatchPendingAsync(stoppingToken) : 0;
                if (sent > 0)
                {
                    logger.LogInformation("Outbox: sent {Count} message(s) left by earlier requests.", sent);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Outbox: a dispatch pass failed; the next one tries again.");
            }
            await Task.Delay(interval, stoppingToken);
        }
        while (!stoppingToken.IsCancellationRequested);
    }
}
