using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Platform.Sessions;

/// <summary>Spans and metrics of the session store (names under <c>Platform.*</c>, registered by ServiceDefaults).</summary>
public sealed class SessionTelemetry : IDisposable
{
    public const string Name = "Platform.Sessions";
    public static readonly ActivitySource Source = new(Name);

    private readonly Meter _meter;
    private long _activeSessions = -1;

    public SessionTelemetry(IMeterFactory meters)
    {
        _meter = meters.Create(Name);
        Validations = _meter.CreateCounter<long>("sessions.validations", description: "Session validations, by outcome (valid, invalid).");
        Created = _meter.CreateCounter<long>("sessions.created", description: "Sessions created (sign-ins).");
        Revoked = _meter.CreateCounter<long>("sessions.revoked", description: "Sessions revoked.");
        SignIns = _meter.CreateCounter<long>("sessions.sign_ins", description: "Sign-in attempts, by outcome (succeeded, failed).");
        Touches = _meter.CreateCounter<long>("sessions.touches",
            description: "Due touches written after their validation answered, by outcome (done, failed: the next validation finds it still due).");
        _meter.CreateObservableGauge("sessions.active", ObserveActiveSessions,
            description: "Live sessions in Redis, counted by the auth service's periodic scan.");
    }

    public Counter<long> Validations { get; }
    public Counter<long> Created { get; }
    public Counter<long> Revoked { get; }
    public Counter<long> SignIns { get; }
    public Counter<long> Touches { get; }

    public void ReportActiveSessions(long count) => Volatile.Write(ref _activeSessions, count);

    private IEnumerable<Measurement<long>> ObserveActiveSessions()
    {
        var count = Volatile.Read(ref _activeSessions);
        return count >= 0 ? [new Measurement<long>(count)] : [];
    }

    public void Dispose() => _meter.Dispose();
}
