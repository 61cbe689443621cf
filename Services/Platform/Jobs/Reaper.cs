using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Platform.Jobs;

/// <summary>
/// Offers every <see cref="JobProcessorOptions.ReapInterval"/> to recover jobs whose lease ended (reap.lua: one worker
/// per interval does the work), removes orphan ids it meets in the active set, and samples the queue's depth for the
/// <c>jobs.queue.depth</c> gauge. Failures are logged and skipped: the reaper never stops.
/// </summary>
internal sealed class Reaper(ProcessorContext context, string workerId)
{
    private const int PerCall = 1000;

    public async Task RunAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(context.Options.ReapInterval);
        long? sampled = null;
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                try
                {
                    var reaped = (long[])(await JobQueue.Reap.EvaluateAsync(context.Db, context.Keys.All,
                        [context.Keys.Prefix, workerId, (long)context.Options.ReapInterval.TotalMilliseconds, PerCall, context.Keys.Doorbell]))!;
                    if (reaped[0] > 0 || reaped[1] > 0)
                    {
                        context.Logger.LogWarning("Recovered {Requeued} job(s) of {Queue} whose lease expired; {Dead} were on their last attempt (dead letter)",
                            reaped[0], context.Options.Queue, reaped[1]);
                    }
                    context.ReportOrphans(reaped[2], "reap");
                    if (sampled is not { } last || Stopwatch.GetElapsedTime(last) >= context.Options.DepthSampleInterval)
                    {
                        sampled = Stopwatch.GetTimestamp();
                        context.Queue.Telemetry.ReportCounts(await context.Queue.GetCountsAsync(context.Options.Queue));
                    }
                }
                catch (Exception e)
                {
                    context.Logger.LogWarning("Reaper of {Queue} skipped: {Message}", context.Options.Queue, e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
