using Microsoft.Extensions.Hosting;

namespace Platform.Jobs;

/// <summary>Runs a <see cref="JobProcessor"/> for the life of the host. Keep the host's ShutdownTimeout above the processor's grace period.</summary>
public sealed class JobProcessorService(JobProcessor processor) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => processor.RunAsync(stoppingToken);
}
