using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What every service shares: OpenTelemetry, health checks, service discovery, resilience, problem details.
/// The shape of the Aspire service-defaults template, with the health endpoints mapped in every environment
/// (the orchestrator and the tests wait on them) and answering with the status of each check.
/// </summary>
public static class Extensions
{
    public const string HealthEndpointPath = "/health";
    public const string AlivenessEndpointPath = "/alive";

    /// <summary>The ActivitySource and Meter names of the Redis building blocks in Services/Platform.</summary>
    private const string PlatformTelemetryPrefix = "Platform.*";

    /// <summary>
    /// A check that has not answered by then counts as unhealthy. Without it, the Redis check waits out the
    /// client's 5 s command timeout while Redis is down, and the orchestrator's probes time out instead.
    /// </summary>
    public static readonly TimeSpan HealthCheckTimeout = TimeSpan.FromSeconds(2);

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();

        builder.AddDefaultHealthChecks();

        builder.Services.AddProblemDetails();

        builder.Services.AddServiceDiscovery();

        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });

        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics =>
            {
                metrics.AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddRuntimeInstrumentation()
                    // Every Redis building block's meter (Platform.Sessions, ...).
                    .AddMeter(PlatformTelemetryPrefix);
            })
            .WithTracing(tracing =>
            {
                tracing.SetSampler(RecordAllButUntracedWork)
                    .AddSource(builder.Environment.ApplicationName)
                    .AddSource(PlatformTelemetryPrefix)
                    .AddAspNetCoreInstrumentation(options =>
                        options.Filter = context =>
                            !context.Request.Path.StartsWithSegments(HealthEndpointPath)
                            && !context.Request.Path.StartsWithSegments(AlivenessEndpointPath))
                    .AddHttpClientInstrumentation();
            });

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>
    /// Every span is recorded, as the AppHost's <c>OTEL_TRACES_SAMPLER=always_on</c> asks (a caller's unsampled
    /// traceparent included), except children of a span in this process that chose not to be recorded: background
    /// work run <c>Platform.Hosting.Untraced</c> (idle polls, renewals; their Redis commands included) and the
    /// health endpoints filtered out above. Set here because a sampler set in code takes precedence over that variable.
    /// </summary>
    private static readonly Sampler RecordAllButUntracedWork = new ParentBasedSampler(new AlwaysOnSampler(),
        remoteParentSampled: new AlwaysOnSampler(), remoteParentNotSampled: new AlwaysOnSampler(),
        localParentSampled: new AlwaysOnSampler(), localParentNotSampled: new AlwaysOffSampler());

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);

        // PostConfigure sees every registration, including those that client integrations add later.
        builder.Services.PostConfigure<HealthCheckServiceOptions>(options =>
        {
            foreach (var registration in options.Registrations)
            {
                if (registration.Timeout == Timeout.InfiniteTimeSpan)
                {
                    registration.Timeout = HealthCheckTimeout;
                }
                var factory = registration.Factory;
                registration.Factory = services => new TimeBoundHealthCheck(factory(services));
            }
        });

        return builder;
    }

    /// <summary>
    /// Problem details for every error (no stack traces), then <c>/health</c> (readiness: every check,
    /// Redis included) and <c>/alive</c> (liveness: the process answers). Call it first after <c>Build()</c>
    /// so that the exception handler wraps everything mapped after it.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();

        // Mapped in every environment: the orchestrator waits on /health, and it discloses only check
        // names and states, never exception details.
        app.MapHealthChecks(HealthEndpointPath, new HealthCheckOptions { ResponseWriter = WriteHealthReport });
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains("live"),
            ResponseWriter = WriteHealthReport,
        });

        return app;
    }

    private static Task WriteHealthReport(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(
                e => e.Key,
                e => new { status = e.Value.Status.ToString(), durationMs = Math.Round(e.Value.Duration.TotalMilliseconds, 1) }),
        }));
    }

    /// <summary>
    /// Makes a check give up when its timeout fires. The health check service only cancels the token, and
    /// checks that cannot take one (StackExchange.Redis commands) would otherwise run on regardless.
    /// </summary>
    private sealed class TimeBoundHealthCheck(IHealthCheck inner) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            inner.CheckHealthAsync(context, cancellationToken).WaitAsync(cancellationToken);
    }
}
