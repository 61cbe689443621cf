using Api.Projects;
using Microsoft.EntityFrameworkCore;
using Platform.Hosting;
using Platform.Jobs;
using Platform.Notifications;

namespace Api.Outbox;

/// <summary>
/// Sends what committed transactions left in the outbox, oldest first, and deletes each once sent. Called right
/// after a commit (so a request's jobs are usually queued before it answers) and by
/// <see cref="OutboxDispatcherService"/> at start-up (rows a crash left) and every poll interval (rows an outage
/// left). One pass at a time per process; passes of two replicas may send a row twice, which the keys make harmless.
/// </summary>
public sealed class OutboxDispatcher(IServiceScopeFactory scopes, JobQueue jobs, NotificationPublisher notifications, ILogger<OutboxDispatcher> logger)
{
    private const int BatchSize = 100;
    private readonly SemaphoreSlim _pass = new(1, 1);

    /// <summary>Whether any message waits to be sent (one indexed read: the poll's question, asked untraced).</summary>
    public async Task<bool> HasPendingAsync(CancellationToken cancellationToken = default)
    {
        await using var scope = scopes.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<ProjectsDb>().OutboxMessages.AnyAsync(cancellationToken);
    }

    /// <summary>Sends every pending message; returns how many were sent. Stops at the first one Redis refuses (the rest wait with it).</summary>
    public async Task<int> DispatchPendingAsync(CancellationToken cancellationToken = default)
    {
        await _pass.WaitAsync(cancellationToken);
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ProjectsDb>();
            var sent = 0;
            while (true)
            {
                var batch = await db.OutboxMessages.AsNoTracking().OrderBy(m => m.Id).Take(BatchSize).ToListAsync(cancellationToken);
                foreach (var message in batch)
                {
                    try
                    {
                        await SendAsync(message);
                    }
                    catch (Exception e) when (RedisOutage.IsOutage(e) || e is JobValidationException or ArgumentException)
                    {
                        await db.OutboxMessages.Where(m => m.Id == message.Id).ExecuteUpdateAsync(update => update
                            .SetProperty(m => m.Attempts, m => m.Attempts + 1)
                            .SetProperty(m => m.LastError, e.Message), CancellationToken.None);
                        logger.LogWarning("Outbox: message {Id} ({Kind}) not sent yet: {Message}", message.Id, message.Kind, e.Message);
                        return sent;
                    }
                    // Sent: a crash before this delete sends it again at the next start, which its key makes harmless.
                    await db.OutboxMessages.Where(m => m.Id == message.Id).ExecuteDeleteAsync(CancellationToken.None);
                    sent++;
                }
                if (batch.Count < BatchSize)
                {
                    return sent;
                }
            }
        }
        finally
        {
            _pass.Release();
        }
    }

    private async Task SendAsync(OutboxMessage message)
    {
        switch (message.Kind)
        {
            case OutboxMessage.JobKind:
                await jobs.EnqueueAsync(message.ReadJob());
                break;
            case OutboxMessage.NotificationKind:
                var notification = message.ReadNotification();
                await notifications.PublishOnceAsync(notification.Channel, notification.Payload, notification.DedupeKey);
                break;
            default:
                throw new ArgumentException($"Unknown outbox message kind '{message.Kind}'.");
        }
    }
}
