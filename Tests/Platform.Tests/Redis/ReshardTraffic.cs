using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Platform.Hosting;
using Platform.Redis;

namespace Platform.Tests.Redis;

/// <summary>
/// What a building block's traffic met while its slot moved (<see cref="SlotMigration"/>): operations that succeeded,
/// and each error by kind and first words (TRYAGAIN, ASK, MOVED...), split into those a service answers as an outage
/// (<see cref="RedisOutage.IsOutage"/>: a fast 503, retried by workers) and the rest, which would be a 500. Also a
/// logger, for the errors a background loop (a job processor) logs instead of throwing; the scripts
/// <see cref="RedisScript"/> sent again after TRYAGAIN meanwhile (every script's, this process's: cluster tests run one
/// at a time); and the longest time without a success (how long the building block was unavailable).
/// </summary>
public sealed class ReshardTraffic : ILogger, IDisposable
{
    private readonly ConcurrentDictionary<string, int> _errors = new();
    private readonly MeterListener _listener = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastSuccessTicks = -1;
    private long _longestGapTicks;
    private int _succeeded;
    private long _resends;

    public ReshardTraffic()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == RedisScript.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _resends, value));
        _listener.Start();
    }

    public int Succeeded => Volatile.Read(ref _succeeded);
    public long Resends => Interlocked.Read(ref _resends);
    public TimeSpan LongestWithoutSuccess => TimeSpan.FromTicks(Interlocked.Read(ref _longestGapTicks));
    public int Outages => _errors.Where(e => e.Key.StartsWith("503 ", StringComparison.Ordinal)).Sum(e => e.Value);

    /// <summary>Errors that are not an outage: each would be a 500 from a service, or a job attempt burnt.</summary>
    public IReadOnlyList<string> NotOutages => _errors.Keys.Where(k => !k.StartsWith("503 ", StringComparison.Ordinal)).Order().ToList();

    public void Success()
    {
        Interlocked.Increment(ref _succeeded);
        var now = _clock.Elapsed.Ticks;
        var last = Interlocked.Exchange(ref _lastSuccessTicks, now);
        if (last >= 0)
        {
            long longest;
            while (now - last > (longest = Interlocked.Read(ref _longestGapTicks))
                   && Interlocked.CompareExchange(ref _longestGapTicks, now - last, longest) != longest)
            {
            }
        }
    }

    public void Failure(Exception e)
    {
        var message = e.Message.ReplaceLineEndings(" ");
        var key = $"{(RedisOutage.IsOutage(e) ? "503" : "500")} {e.GetType().Name}: {message[..Math.Min(message.Length, 90)]}";
        _errors.AddOrUpdate(key, 1, (_, n) => n + 1);
    }

    /// <summary>The errors alone, for traffic that counts no successes (a processor's log).</summary>
    public string Errors => $"{_errors.Values.Sum()} errors" + string.Concat(_errors.OrderBy(e => e.Key).Select(e => $"\n    {e.Value} x {e.Key}"));

    public override string ToString() =>
        $"{Succeeded} succeeded, {Resends} script resends after TRYAGAIN, longest without a success " +
        $"{LongestWithoutSuccess.TotalSeconds:F1} s, {Errors}";

    public void Dispose() => _listener.Dispose();

    IDisposable? ILogger.BeginScope<TState>(TState state) => null;
    bool ILogger.IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    void ILogger.Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (logLevel < LogLevel.Warning)
        {
            return;
        }
        var message = $"{logLevel} (logged) {exception?.GetType().Name}: {formatter(state, exception).ReplaceLineEndings(" ")}";
        // A warning is what the processor logs for an outage it retries; an error is anything else.
        var key = $"{(logLevel == LogLevel.Warning ? "503" : "500")} {message[..Math.Min(message.Length, 140)]}";
        _errors.AddOrUpdate(key, 1, (_, n) => n + 1);
    }
}
