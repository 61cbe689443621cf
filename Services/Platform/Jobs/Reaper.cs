using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Platform.Hosting;

namespace Platform.Jobs;

/// <summary>
/// Offers every <see cref="JobProcessorOptions.ReapInterval"/> to recover jobs whose lease ended (reap.lua: one worker
/// per interval does the work), removes orphan ids it meets in the active set, and samples the queue's depth for the
/// <c>jobs.queue.depth</c> gauge. Leases that end within a lease (and a little, see <see cref="OutageWindow"/>) of this
/// worker meeting the queue's Redis unreachable are requeued with their attempt not counted (see reap.lua): an outage
/// is not the jobs' fault. Failures are logged and skipped: the reaper never stops. A pass is counted
/// (<c>jobs.reaps</c>); only a pass that recovered jobs is traced.
/// </summary>
internal sealed class Reaper(ProcessorContext context, string workerId)
{
    private const int PerCall = 1000;

    /// <summary>
    /// How recent an outage excuses the leases ending now. A lease the outage cost ended at most a lease after the
    /// last failure this worker met (the last send that set it came before), and is reaped up to two intervals later
    /// (a pass that arrives just before the previous pass's guard expires finds it held and does nothing), later
    /// still on a busy machine: a lease, two intervals and a second. One interval was too tight: CI saw a job
    /// dead-lettered for a failover (JobWorkerFailoverTests).
    /// </summary>
    private TimeSpan OutageWindow => context.Options.VisibilityTimeout + 2 * context.Options.ReapInterval + TimeSpan.FromSeconds(1);

    public async Task RunAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(context.Options.ReapInterval);
        long? sampled = null;
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                var sent = DateTimeOffset.UtcNow;
                try
                {
                    long[] reaped;
                    using (Untraced.Begin())
                    {
                        reaped = (long[])(await JobQueue.Reap.EvaluateAsync(context.Db, context.Keys.All,
                            [context.Keys.Prefix, workerId, (long)context.Options.ReapInterval.TotalMilliseconds, PerCall, context.Keys.Doorbell,
                            context.SawOutageWithin(OutageWindow) ? 1 : 0]))!;
                    }
                    var moved = reaped[0] > 0 || reaped[1] > 0;
                    context.Queue.Telemetry.Reaps.Add(1, context.QueueTag, new("result", moved ? "moved" : "idle"));
                    if (moved)
                    {
                        JobTelemetry.TraceReap(context.Options.Queue, reaped[0], reaped[1], sent);
                        context.Queue.Telemetry.Reaped.Add(reaped[0] - reaped[3], context.QueueTag, new("outcome", "requeued"));
                        context.Queue.Telemetry.Reaped.Add(reaped[3], context.QueueTag, new("outcome", "requeued_outage"));
                        context.Queue.Telemetry.Reaped.Add(reaped[1], context.QueueTag, new("outcome", "dead"));
                        context.Logger.LogWarning("Recovered {Requeued} job(s) of {Queue} whose lease expired ({Excused} during a Redis outage: attempt not counted); {Dead} were on their last attempt (dead letter)",
                            reaped[0], context.Options.Queue, reaped[3], reaped[1]);
                    }
                    context.ReportOrphans(reaped[2], "reap");
                    if (sampled is not { } last || Stopwatch.GetElapsedTime(last) >= context.Options.DepthSampleInterval)
                    {
                        sampled = Stopwatch.GetTimestamp();
                        using (Untraced.Begin())
                        {
                            context.Queue.Telemetry.ReportCounts(await context.Queue.GetCountsAsync(context.Options.Queue));
                        }
                    }
                }
                catch (Exception e)
                {
                    context.MetOutage(e);
                    context.Logger.LogWarning("Reaper of {Queue} skipped: {Message}", context.Options.Queue, e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
