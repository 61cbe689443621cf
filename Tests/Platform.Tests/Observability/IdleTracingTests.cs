using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry.Trace;
using Platform.Hosting;
using Platform.Jobs;
using Platform.Notifications;
using Platform.Tests.Jobs;
using Platform.Tests.Notifications;
using Platform.Tests.Redis;
using StackExchange.Redis;

namespace Platform.Tests.Observability;

/// <summary>
/// Every Platform.* source is process-wide: these tests run alone, after the parallel collections, so that the spans
/// they see are their own.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TracingCollection : ICollectionFixture<RedisServerFixture>
{
    public const string Name = "tracing";
}

/// <summary>
/// Background work that finds nothing to do exports no trace (the dashboard's Traces page stays empty while the system
/// is idle); work that does something is traced, in the trace of whoever asked for it. Spans are read where an
/// exporter would get them: at the end of the OpenTelemetry pipeline, with the real StackExchange.Redis
/// instrumentation Aspire's client integration uses, composed by ServiceDefaults as every service composes it.
/// </summary>
[Collection(TracingCollection.Name)]
public sealed class IdleTracingTests(RedisServerFixture redis)
{
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The Redis instrumentation exports commands made outside any span every 10 s (its flush interval, which Aspire's
    /// client integration does not let us shorten): waiting a little longer shows every such span.
    /// </summary>
    private static readonly TimeSpan RedisFlush = TimeSpan.FromSeconds(11);

    private static readonly ActivitySource Caller = new("Platform.Tests.Caller");

    /// <summary>What the AppHost sets for every service: record every span, whatever its parent decided.</summary>
    private static readonly (string Key, string Value) AspireSampler = ("OTEL_TRACES_SAMPLER", "always_on");

    [Fact]
    public async Task AnIdleJobProcessorExportsNoTraceAndFiveJobsExportOnlySpansInTheirEnqueuersTrace()
    {
        var queue = $"q{Guid.NewGuid():N}";
        var spans = new ExportedSpans();
        using var host = await StartWorkerHostAsync(spans);
        var connection = host.Services.GetRequiredService<IConnectionMultiplexer>();
        var jobs = JobQueueTests.Queue(connection, queue);
        using var stop = new CancellationTokenSource();
        var processor = JobQueueTests.Processor(jobs, queue, new SinkHandler(connection, queue, TimeSpan.Zero), concurrency: 2)
            .RunAsync(stop.Token);
        ActivityTraceId trace;
        DateTime idle;
        try
        {
            // Start-up (the doorbell's SUBSCRIBE) is done within a second; then claim polls, reaper ticks and depth
            // samples every 0.5 s: twenty of each.
            await Task.Delay(TimeSpan.FromSeconds(1));
            idle = DateTime.UtcNow;
            await Task.Delay(Idle + RedisFlush);
            var duringIdle = spans.All.Where(s => s.StartTimeUtc >= idle).ToArray();
            Assert.True(duringIdle.Length == 0, $"Idle, the processor exported: {ExportedSpans.Describe(duringIdle)}");

            using (var request = Caller.StartActivity("POST /deployments"))
            {
                trace = request!.TraceId;
                for (var i = 0; i < 5; i++)
                {
                    await jobs.EnqueueAsync(new EnqueueRequest(queue, "sink", $"{{\"i\":{i}}}"));
                }
            }
            // Polled on the fixture's own connection, which is not instrumented: the test's reads are not the processor's spans.
            await JobQueueTests.WaitUntilAsync(async () => await redis.Connection.GetDatabase().SetLengthAsync(SinkHandler.Done(queue)) == 5,
                TimeSpan.FromSeconds(30), "five jobs done");
            await Task.Delay(RedisFlush); // idle again, and time for the last Redis spans to be exported
        }
        finally
        {
            await stop.CancelAsync();
            await processor;
            await host.StopAsync();
        }

        var exported = spans.All.Where(s => s.StartTimeUtc >= idle).ToArray();
        var roots = exported.Where(s => s.ParentSpanId == default).ToArray();
        Assert.True(roots.Length == 1, $"Roots: {ExportedSpans.Describe(roots)}");
        var root = Assert.Single(roots);
        Assert.Equal(trace, root.TraceId);
        Assert.All(exported, s => Assert.Equal(root.TraceId, s.TraceId));
        var processed = exported.Where(s => s.DisplayName == $"job process {queue}").ToArray();
        Assert.Equal(5, processed.Length);
        Assert.Equal(5, processed.Select(s => s.GetTagItem("job.id")).Distinct().Count());
        // The claims that leased them, and each job's own Redis commands (the sink's), inside the job's span.
        Assert.Equal(5, exported.Where(s => s.DisplayName == $"job claim {queue}").Select(s => s.GetTagItem("job.id")).Distinct().Count());
        var processIds = processed.Select(s => s.SpanId).ToHashSet();
        Assert.Equal(5, exported.Count(s => processIds.Contains(s.ParentSpanId) && s.DisplayName == "SADD"));
    }

    [Fact]
    public async Task AReaperPassThatRecoversAJobIsTracedWithWhatItMoved()
    {
        var queue = $"q{Guid.NewGuid():N}";
        var spans = new ExportedSpans();
        using var host = await StartWorkerHostAsync(spans);
        var connection = host.Services.GetRequiredService<IConnectionMultiplexer>();
        var jobs = JobQueueTests.Queue(connection, queue);
        await jobs.EnqueueAsync(new EnqueueRequest(queue, "sink", "{}"));
        // Leased by a worker that then died: claimed with a 300 ms lease, never renewed, never completed.
        var crashed = new JobProcessorOptions { Queue = queue, VisibilityTimeout = TimeSpan.FromMilliseconds(300) };
        var leased = await new ClaimCall(new ProcessorContext(jobs, crashed, NullLogger.Instance), 1).SendAsync();
        Assert.Single(leased.Jobs());
        var started = DateTime.UtcNow;

        using var stop = new CancellationTokenSource();
        var processor = JobQueueTests.Processor(jobs, queue, new SinkHandler(connection, queue, TimeSpan.Zero), concurrency: 1)
            .RunAsync(stop.Token);
        try
        {
            await JobQueueTests.WaitUntilAsync(async () => await redis.Connection.GetDatabase().SetLengthAsync(SinkHandler.Done(queue)) == 1,
                TimeSpan.FromSeconds(30), "the recovered job done");
        }
        finally
        {
            await stop.CancelAsync();
            await processor;
            await host.StopAsync();
        }

        var reap = Assert.Single(spans.All, s => s.DisplayName == $"job reap {queue}");
        Assert.Equal((1L, 0L), ((long)reap.GetTagItem("job.requeued")!, (long)reap.GetTagItem("job.dead")!));
        Assert.Equal(default, reap.ParentSpanId);
        Assert.Single(spans.All, s => s.DisplayName == $"job process {queue}" && s.StartTimeUtc >= started);
    }

    /// <summary>A host composed as the worker is: Aspire's Redis client (and its instrumentation), ServiceDefaults' telemetry.</summary>
    private async Task<IHost> StartWorkerHostAsync(ExportedSpans spans)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = redis.Server.ConnectionString,
            ["Aspire:StackExchange:Redis:DisableHealthChecks"] = "true",
            [AspireSampler.Key] = AspireSampler.Value,
        });
        builder.AddPlatformRedis();
        builder.ConfigureOpenTelemetry();
        builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing.AddSource(Caller.Name).AddProcessor(spans));
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    [Fact]
    public async Task AnIdleNotifierWithAnOpenStreamExportsNoTraceAndAPublishIsDeliveredInThePublishersTrace()
    {
        var spans = new ExportedSpans();
        var settings = new Dictionary<string, string?>
        {
            ["Notifications:HeartbeatInterval"] = "00:00:00.300",
            ["Notifications:SessionRevalidationInterval"] = "00:00:00.500",
            [AspireSampler.Key] = AspireSampler.Value,
        };
        await using var host = await NotifierHost.StartAsync(redis.ConnectionString, new FakeMembership(), settings, builder =>
        {
            builder.ConfigureOpenTelemetry();
            builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing.AddSource(Caller.Name).AddProcessor(spans));
        });
        var token = await host.SignInAsync($"u{Guid.NewGuid():N}", admin: true);
        await using var stream = await SseClient.ConnectAsync(host.Client, token);
        var idle = DateTime.UtcNow; // start-up (the hub's SUBSCRIBE), the sign-in and the stream's opening are done

        // Heartbeats every 0.3 s, the session and the stream slot checked every 0.5 s.
        await Task.Delay(Idle + RedisFlush);
        var duringIdle = spans.All.Where(s => s.StartTimeUtc >= idle).ToArray();
        Assert.True(duringIdle.Length == 0, $"Idle, the notifier exported: {ExportedSpans.Describe(duringIdle)}");

        var published = DateTime.UtcNow;
        ActivityTraceId trace;
        using (var job = Caller.StartActivity("job process deployments"))
        {
            trace = job!.TraceId;
            await host.Publisher.PublishAsync(NotificationChannels.SystemAlert, new { message = "traced", severity = "info" });
        }
        var delivered = Assert.Single(await stream.ReadEventsAsync(1, TimeSpan.FromSeconds(10)));
        Assert.Contains("traced", delivered.Data);
        await Task.Delay(RedisFlush);

        var exported = spans.All.Where(s => s.StartTimeUtc >= published).ToArray();
        Assert.True(exported.All(s => s.TraceId == trace), $"Outside the publisher's trace: {ExportedSpans.Describe(exported.Where(s => s.TraceId != trace))}");
        Assert.Contains(exported, s => s.DisplayName.StartsWith("notify publish", StringComparison.Ordinal));
        Assert.Contains(exported, s => s.DisplayName.StartsWith("notify deliver", StringComparison.Ordinal));
    }
}
