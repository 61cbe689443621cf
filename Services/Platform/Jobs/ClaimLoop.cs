using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Platform.Hosting;

namespace Platform.Jobs;

/// <summary>
/// Claims jobs for every free slot in one claim.lua call and starts each in a slot; sleeps when the queue is empty
/// until the doorbell rings, the next scheduled job is due, or <see cref="JobProcessorOptions.IdlePoll"/> passes.
/// A failed claim is retried as the same call (same id, same slots) while the leases it may have handed out last,
/// so a lost reply strands no job; nothing it meets can end the loop but the stopping token.
/// </summary>
internal sealed class ClaimLoop(ProcessorContext context, LeaseKeeper leases, JobRunner runner)
{
    public async Task RunAsync(SemaphoreSlim slots, ConcurrentDictionary<Task, bool> tasks, CancellationToken stoppingToken)
    {
        var outageDelay = 100;
        ClaimCall? call = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            if (call is null)
            {
                await slots.WaitAsync(stoppingToken);
                var free = 1;
                while (slots.Wait(0))
                {
                    free++;
                }
                call = new ClaimCall(context, free);
            }

            ClaimCall.Reply reply;
            RunningJob[] jobs;
            var sent = DateTimeOffset.UtcNow;
            try
            {
                using (Untraced.Begin())
                {
                    reply = await call.SendAsync();
                }
                jobs = leases.Register(reply);
                outageDelay = 100;
            }
            catch (Exception) when (stoppingToken.IsCancellationRequested)
            {
                return; // stopping: whatever this call leased (if it ran) is reaped after its lease
            }
            catch (Exception e)
            {
                // An outage, a timeout (the script may have run: its reply is lost), a call the client cancelled when its
                // connection failed (a TaskCanceledException, not ours), or anything else: logged, and the
                // same call is sent again after a growing delay. Once the leases it could have handed out have run out,
                // it is given up and its slots freed: the reaper recovers what it leased.
                context.Logger.Log(context.MetOutage(e) ? LogLevel.Warning : LogLevel.Error, e,
                    "Cannot claim from {Queue}: {Message}; retrying in {Delay} ms", context.Options.Queue, e.Message, outageDelay);
                await Task.Delay(outageDelay, stoppingToken);
                outageDelay = Math.Min(outageDelay * 2, 2000);
                if (call.LeaseLeft <= TimeSpan.Zero)
                {
                    slots.Release(call.Take);
                    call = null;
                }
                continue;
            }

            var asked = call.Take;
            call = null;
            context.Queue.Telemetry.Claims.Add(1, context.QueueTag, new("result", jobs.Length > 0 ? "leased" : "empty"));
            JobTelemetry.TraceClaim(context.Options.Queue, jobs, sent);
            context.ReportOrphans(reply.Orphans, "claim");
            if (asked > jobs.Length)
            {
                slots.Release(asked - jobs.Length);
            }
            foreach (var job in jobs)
            {
                var task = Task.Run(() => runner.RunSlotAsync(job, slots, stoppingToken), CancellationToken.None);
                tasks[task] = true;
                _ = task.ContinueWith(t => tasks.TryRemove(t, out _), TaskScheduler.Default);
            }
            if (jobs.Length < asked)
            {
                await SleepAsync(reply.NextDue, stoppingToken);
            }
        }
    }

    /// <summary>The queue is empty: sleep until the doorbell, the next due job, or the idle poll.</summary>
    private async Task SleepAsync(long nextDueMs, CancellationToken stoppingToken)
    {
        var sleep = nextDueMs >= 0 && nextDueMs < context.Options.IdlePoll.TotalMilliseconds
            ? TimeSpan.FromMilliseconds(nextDueMs) : context.Options.IdlePoll;
        if (sleep <= TimeSpan.Zero)
        {
            return;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(sleep);
        try
        {
            await context.Doorbell.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
        }
    }
}
