using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Platform.Hosting;

namespace Platform.Tests.Redis;

/// <summary>
/// What a building block's traffic met while its slot moved (<see cref="SlotMigration"/>): operations that succeeded,
/// and each error by kind and first words (TRYAGAIN, ASK, MOVED...), split into those a service answers as an outage
/// (<see cref="RedisOutage.IsOutage"/>: a fast 503, retried by workers) and the rest, which would be a 500. Also a
/// logger, for the errors a background loop (a job processor) logs instead of throwing.
/// </summary>
public sealed class ReshardTraffic : ILogger
{
    private readonly ConcurrentDictionary<string, int> _errors = new();
    private int _succeeded;

    public int Succeeded => Volatile.Read(ref _succeeded);
    public int Outages => _errors.Where(e => e.Key.StartsWith("503 ", StringComparison.Ordinal)).Sum(e => e.Value);

    /// <summary>Errors that are not an outage: each would be a 500 from a service, or a job attempt burnt.</summary>
    public IReadOnlyList<string> NotOutages => _errors.Keys.Where(k => !k.StartsWith("503 ", StringComparison.Ordinal)).Order().ToList();

    public void Success() => Interlocked.Increment(ref _succeeded);

    public void Failure(Exception e)
    {
        var message = e.Message.ReplaceLineEndings(" ");
        var key = $"{(RedisOutage.IsOutage(e) ? "503" : "500")} {e.GetType().Name}: {message[..Math.Min(message.Length, 90)]}";
        _errors.AddOrUpdate(key, 1, (_, n) => n + 1);
    }

    public override string ToString() =>
        $"{Succeeded} succeeded, {_errors.Values.Sum()} errors" +
        string.Concat(_errors.OrderBy(e => e.Key).Select(e => $"\n    {e.Value} x {e.Key}"));

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
