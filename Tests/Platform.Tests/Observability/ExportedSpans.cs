using System.Collections.Concurrent;
using System.Diagnostics;
using OpenTelemetry;

namespace Platform.Tests.Observability;

/// <summary>
/// The spans an OpenTelemetry tracer provider exports, as its exporter would get them: only spans that were sampled
/// and recorded (what the dashboard would show), each at its end.
/// </summary>
internal sealed class ExportedSpans : BaseProcessor<Activity>
{
    private readonly ConcurrentQueue<Activity> _spans = new();

    public IReadOnlyList<Activity> All => [.. _spans];

    public override void OnEnd(Activity data) => _spans.Enqueue(data);

    public static string Describe(IEnumerable<Activity> spans) =>
        string.Join(", ", spans.Select(s => $"{s.Source.Name}: {s.DisplayName}"));
}
