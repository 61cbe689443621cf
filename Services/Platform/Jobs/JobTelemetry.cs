using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Platform.Jobs;

/// <summary>
/// Spans and metrics of the job queue (names under <c>Platform.*</c>, registered by ServiceDefaults). The processor's
/// background calls (claim polls, reaper passes, lease renewals) run <see cref="Platform.Hosting.Untraced"/>: counted here, traced
/// only when they did something (<see cref="TraceClaim"/>, <see cref="TraceReap"/>).
/// </summary>
public sealed class JobTelemetry : IDisposable
{
    public const string Name = "Platform.Jobs";
    public static readonly ActivitySource Source = new(Name);

    private readonly Meter _meter;
    private readonly ConcurrentDictionary<string, QueueCounts> _depth = new();

    public JobTelemetry(IMeterFactory meters)
    {
        _meter = meters.Create(Name);
        Enqueued = _meter.CreateCounter<long>("jobs.enqueued", description: "Jobs enqueued, by queue.");
        Completed = _meter.CreateCounter<long>("jobs.completed", description: "Jobs completed, by queue.");
        Failed = _meter.CreateCounter<long>("jobs.failed", description: "Failed attempts, by queue and outcome (retrying, dead, failed, lease_lost, error).");
        Orphans = _meter.CreateCounter<long>("jobs.orphans", description: "Job ids found without their job hash and removed from the queue, by queue and where (claim: ready or scheduled; reap: active).");
        Claims = _meter.CreateCounter<long>("jobs.claims", description: "Claim calls of the processors' claim loops, by queue and result (leased: it leased jobs; empty: an idle poll).");
        Reaps = _meter.CreateCounter<long>("jobs.reaps", description: "Reaper passes, by queue and result (moved: it recovered jobs whose lease expired; idle).");
        Reaped = _meter.CreateCounter<long>("jobs.reaped", description: "Jobs the reaper recovered from an expired lease, by queue and outcome (requeued, dead).");
        Duration = _meter.CreateHistogram<double>("jobs.duration", unit: "s", description: "Handler time per attempt, by queue and outcome.");
        _meter.CreateObservableGauge("jobs.queue.depth", ObserveDepth, description: "Jobs per queue and place (ready, scheduled, active, dead), sampled by the workers.");
    }

    public Counter<long> Enqueued { get; }
    public Counter<long> Completed { get; }
    public Counter<long> Failed { get; }
    public Counter<long> Orphans { get; }
    public Counter<long> Claims { get; }
    public Counter<long> Reaps { get; }
    public Counter<long> Reaped { get; }
    public Histogram<double> Duration { get; }

    /// <summary>
    /// A claim that leased jobs, recorded once it has answered (most claims are idle polls, never traced): a span per job
    /// in the job's own trace, under its enqueue, so that a deployment's trace shows when its job was leased.
    /// </summary>
    internal static void TraceClaim(string queue, RunningJob[] jobs, DateTimeOffset sent)
    {
        foreach (var job in jobs)
        {
            ActivityContext.TryParse(job.TraceParent, job.TraceState, out var parent);
            using var span = Source.StartActivity($"job claim {queue}", ActivityKind.Internal, parent, startTime: sent);
            span?.SetTag("messaging.system", "redis");
            span?.SetTag("messaging.destination.name", queue);
            span?.SetTag("job.id", job.Id);
            span?.SetTag("job.claimed", jobs.Length);
        }
    }

    /// <summary>A reaper pass that recovered jobs, recorded once it has answered: its own trace, with the counts.</summary>
    internal static void TraceReap(string queue, long requeued, long dead, DateTimeOffset sent)
    {
        using var span = Source.StartActivity($"job reap {queue}", ActivityKind.Internal, default(ActivityContext), startTime: sent);
        span?.SetTag("messaging.system", "redis");
        span?.SetTag("messaging.destination.name", queue);
        span?.SetTag("job.requeued", requeued);
        span?.SetTag("job.dead", dead);
    }

    public void ReportCounts(QueueCounts counts) => _depth[counts.Queue] = counts;

    private IEnumerable<Measurement<long>> ObserveDepth()
    {
        foreach (var c in _depth.Values)
        {
            var queue = new KeyValuePair<string, object?>("queue", c.Queue);
            yield return new(c.Ready, queue, new("state", "ready"));
            yield return new(c.Scheduled, queue, new("state", "scheduled"));
            yield return new(c.Active, queue, new("state", "active"));
            yield return new(c.Dead, queue, new("state", "dead"));
        }
    }

    public void Dispose() => _meter.Dispose();
}
