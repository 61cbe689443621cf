using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Platform.Notifications;

/// <summary>Spans and metrics of notifications (names under <c>Platform.*</c>, registered by ServiceDefaults).</summary>
public sealed class NotificationTelemetry : IDisposable
{
    public const string Name = "Platform.Notifications";
    public static readonly ActivitySource Source = new(Name);

    private readonly Meter _meter;

    public NotificationTelemetry(IMeterFactory meters)
    {
        _meter = meters.Create(Name);
        Published = _meter.CreateCounter<long>("notifications.published", description: "Events published, by channel.");
        ConnectedClients = _meter.CreateUpDownCounter<long>("notifications.clients", description: "SSE clients connected to this process.");
        Delivered = _meter.CreateCounter<long>("notifications.delivered", description: "Events written to SSE clients, by type.");
        DeliveryLatency = _meter.CreateHistogram<double>("notifications.delivery.latency", unit: "ms",
            description: "From the publish (Redis server time) to the write to the client.");
        SlowClientDrops = _meter.CreateCounter<long>("notifications.slow_client_drops",
            description: "Clients disconnected because their buffer was full (they resume with Last-Event-ID).");
        Recovered = _meter.CreateCounter<long>("notifications.recovered",
            description: "Events this process missed on pub/sub (a connection drop) and took from the history instead.");
    }

    public Counter<long> Published { get; }
    public UpDownCounter<long> ConnectedClients { get; }
    public Counter<long> Delivered { get; }
    public Histogram<double> DeliveryLatency { get; }
    public Counter<long> SlowClientDrops { get; }
    public Counter<long> Recovered { get; }

    public void Dispose() => _meter.Dispose();
}
