using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Platform.Jobs;

/// <summary>Spans and metrics of the job queue (names under <c>Platform.*</c>, registered by ServiceDefaults).</summary>
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
        Duration = _meter.CreateHistogram<double>("jobs.duration", unit: "s", description: "Handler time per attempt, by queue and outcome.");
        _meter.CreateObservableGauge("jobs.queue.depth", ObserveDepth, description: "Jobs per queue and place (ready, scheduled, active, dead), sampled by the workers.");
    }

    public Counter<long> Enqueued { get; }
    public Counter<long> Completed { get; }
    public Counter<long> Failed { get; }
    public Counter<long> Orphans { get; }
    public Histogram<double> Duration { get; }

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
