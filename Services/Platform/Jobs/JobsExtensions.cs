using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Platform.Jobs;

public static class JobsExtensions
{
    /// <summary>
    /// The job queue (<see cref="JobQueue"/>: enqueue, status, counts, cancel, retry dead), configured from the
    /// <c>Jobs</c> section. Needs <c>AddPlatformRedis</c> (or another <c>IConnectionMultiplexer</c>).
    /// </summary>
    public static TBuilder AddJobQueue<TBuilder>(this TBuilder builder, Action<JobQueueOptions>? configure = null)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOptions<JobQueueOptions>()
            .Bind(builder.Configuration.GetSection("Jobs"))
            .Configure(options => configure?.Invoke(options))
            .Validate(options => options.Queues.Count > 0 && options.Queues.All(JobQueueOptions.IsValidQueueName),
                "Jobs:Queues must name at least one queue; names are lowercase letters, digits, '_' and '-'.")
            .ValidateOnStart();
        builder.Services.TryAddSingleton<JobTelemetry>();
        builder.Services.TryAddSingleton<JobQueue>();
        return builder;
    }

    /// <summary>
    /// Runs <typeparamref name="THandler"/> on <paramref name="queue"/> in a hosted service, with settings from
    /// <c>Jobs:Processors:&lt;queue&gt;</c> (<see cref="JobProcessorOptions"/>).
    /// </summary>
    public static IHostApplicationBuilder AddJobProcessor<THandler>(this IHostApplicationBuilder builder, string queue, Action<JobProcessorOptions>? configure = null)
        where THandler : class, IJobHandler
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        builder.AddJobQueue(options =>
        {
            if (!options.Queues.Contains(queue))
            {
                options.Queues.Add(queue);
            }
        });
        builder.Services.TryAddSingleton<THandler>();
        builder.Services.AddOptions<JobProcessorOptions>(queue)
            .Bind(builder.Configuration.GetSection($"Jobs:Processors:{queue}"))
            .Configure(options =>
            {
                options.Queue = queue;
                configure?.Invoke(options);
            });
        // A factory registration: AddHostedService would keep only one processor service per process.
        builder.Services.AddSingleton<IHostedService>(services => new JobProcessorService(new JobProcessor(
            services.GetRequiredService<JobQueue>(), services.GetRequiredService<THandler>(),
            services.GetRequiredService<IOptionsMonitor<JobProcessorOptions>>().Get(queue),
            services.GetRequiredService<ILoggerFactory>().CreateLogger($"Platform.Jobs.JobProcessor.{queue}"))));
        return builder;
    }
}
