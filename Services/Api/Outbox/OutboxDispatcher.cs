using System.Text.Json;
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
/// A Redis outage stops the pass (the rest wait, in order, for the next one); a message refused for good (its queue
/// rejects the job, or it cannot be read) is parked with its error, logged, and passed over, so that it never holds up
/// the messages after it: an operator lists it and sends it again (<see cref="OutboxApi"/>).
/// </summary>
public sealed class OutboxDispatcher(IServiceScopeFactory scopes, JobQueue jobs, NotificationPublisher notifications, ILogger<OutboxDispatcher> logger)
{
    private const int BatchSize = 100;
    private readonly SemaphoreSlim _pass = new(1, 1);

    /// <summary>Whether any message waits to be sent (one indexed read: the poll's question, asked untraced).</summary>
    public async Task<bool> HasPendingAsync(CancellationToken cancellationToken = default)
    {
        await using var scope = scopes.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<ProjectsDb>().OutboxMessages.AnyAsync(m => m.ParkedAt == null, cancellationToken);
    }

    /// <summary>
    /// Sends every pending message; returns how many were sent. Stops at the first one an outage keeps from Redis (the
    /// rest wait with it); parks one refused for good and goes on.
    /// </summary>
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
                var batch = await db.OutboxMessages.AsNoTracking().Where(m => m.ParkedAt == null)
                    .OrderBy(m => m.Id).Take(BatchSize).ToListAsync(cancellationToken);
                foreach (var message in batch)
                {
                    try
                    {
                        await SendAsync(message);
                    }
                    catch (Exception e) when (RedisOutage.IsOutage(e))
                    {
                        await db.OutboxMessages.Where(m => m.Id == message.Id).ExecuteUpdateAsync(update => update
                            .SetProperty(m => m.Attempts, m => m.Attempts + 1)
                            .SetProperty(m => m.LastError, e.Message), CancellationToken.None);
                        logger.LogWarning("Outbox: message {Id} ({Kind}) not sent yet: {Message}", message.Id, message.Kind, e.Message);
                        return sent;
                    }
                    catch (Exception e) when (IsRefusedForGood(e))
                    {
                        var parkedAt = DateTimeOffset.UtcNow;
                        await db.OutboxMessages.Where(m => m.Id == message.Id).ExecuteUpdateAsync(update => update
                            .SetProperty(m => m.Attempts, m => m.Attempts + 1)
                            .SetProperty(m => m.LastError, e.Message)
                            .SetProperty(m => m.ParkedAt, parkedAt), CancellationToken.None);
                        logger.LogError("Outbox: message {Id} ({Kind}) refused and parked; the messages after it go on. An operator sends it again "
                            + "with POST /api/admin/outbox/{Id}/retry once the cause is fixed. {Message}", message.Id, message.Kind, message.Id, e.Message);
                        continue;
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

    /// <summary>
    /// Refused for good: sending it again changes nothing until someone changes the code or the configuration. The
    /// queue's validation (an unknown queue, a payload over its limit...), a message kind or a payload this version
    /// cannot read. Anything else (the store failing, a bug) fails the pass, which the next pass tries again.
    /// </summary>
    private static bool IsRefusedForGood(Exception e) => e is JobValidationException or ArgumentException or JsonException or NotSupportedException;

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
