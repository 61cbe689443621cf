using Microsoft.Extensions.Logging;

namespace Platform.Jobs;

/// <summary>
/// A graceful stop: running jobs may finish within <see cref="JobProcessorOptions.ShutdownGrace"/>; past it their
/// handlers are cancelled and each releases its job (attempt not counted) as it stops. A handler that ignores
/// cancellation gets a moment more, then its job is released from here (its completion will be refused).
/// </summary>
internal sealed class ProcessorShutdown(ProcessorContext context, LeaseKeeper leases, JobOutcomes outcomes)
{
    private static readonly TimeSpan IgnoredCancellation = TimeSpan.FromSeconds(2);

    public async Task DrainAsync(Task[] running)
    {
        if (running.Length == 0)
        {
            return;
        }
        context.Logger.LogInformation("Stopping {Queue}: waiting up to {Grace} for {Count} running job(s)",
            context.Options.Queue, context.Options.ShutdownGrace, running.Length);
        var all = Task.WhenAll(running);
        if (await Task.WhenAny(all, Task.Delay(context.Options.ShutdownGrace)) == all)
        {
            return;
        }
        await context.Abandon.CancelAsync();
        if (await Task.WhenAny(all, Task.Delay(IgnoredCancellation)) != all)
        {
            foreach (var job in leases.Jobs)
            {
                job.Lose();
                await outcomes.ReleaseAsync(job);
            }
        }
    }
}
