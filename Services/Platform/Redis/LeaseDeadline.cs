using System.Diagnostics;

namespace Platform.Redis;

/// <summary>
/// A one-shot alarm at the earliest moment a lease held in Redis may have ended on the server: the SEND time of the
/// last command that started or extended it, plus the lease, minus a margin. Redis started that lease no earlier
/// than the send, so the alarm never rings after the server's expiry, whatever happened to the replies (lost, late,
/// timed out). Checking at renewal ticks instead would be late by up to a tick, and a renewal stuck in a timeout
/// would delay it further.
/// </summary>
internal sealed class LeaseDeadline : IAsyncDisposable
{
    private readonly TimeSpan _lease;
    private readonly TimeSpan _margin;
    private readonly Action _expired;
    private readonly Timer _timer;
    private long _startedAt;
    private int _rung;

    /// <param name="sentAt">When the command that granted the lease was sent (a <see cref="Stopwatch"/> timestamp).</param>
    /// <param name="expired">Called once, on a timer thread, when the lease may have ended: it must not throw.</param>
    public LeaseDeadline(TimeSpan lease, long sentAt, Action expired)
    {
        (_lease, _margin, _startedAt, _expired) = (lease, MarginOf(lease), sentAt, expired);
        _timer = new Timer(_ => Check(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        Arm();
    }

    /// <summary>
    /// The safety margin: covers a timer that fires late on a busy machine and clock-rate differences between this
    /// process and Redis. A tenth of the lease, at most 1 s.
    /// </summary>
    public static TimeSpan MarginOf(TimeSpan lease) => TimeSpan.FromTicks(Math.Min(lease.Ticks / 10, TimeSpan.TicksPerSecond));

    /// <summary>Time left before the alarm rings (zero or less once it may have ended).</summary>
    public TimeSpan Left => _lease - _margin - Stopwatch.GetElapsedTime(Volatile.Read(ref _startedAt));

    public bool HasRung => Volatile.Read(ref _rung) == 1;

    /// <summary>A renewal sent at <paramref name="sentAt"/> succeeded: the lease now ends a lease after that send.</summary>
    public void Extend(long sentAt)
    {
        for (var seen = Volatile.Read(ref _startedAt); sentAt > seen; seen = Volatile.Read(ref _startedAt))
        {
            if (Interlocked.CompareExchange(ref _startedAt, sentAt, seen) == seen)
            {
                Arm();
                return;
            }
        }
    }

    private void Arm()
    {
        try
        {
            _timer.Change(Max(Left, TimeSpan.Zero), Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // Disposed: the lease was given up; nothing to watch.
        }
    }

    private void Check()
    {
        if (Left > TimeSpan.Zero)
        {
            Arm(); // extended while this callback was on its way
            return;
        }
        if (Interlocked.Exchange(ref _rung, 1) == 0)
        {
            _expired();
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>Stops the alarm; returns once a callback in progress has finished.</summary>
    public ValueTask DisposeAsync() => _timer.DisposeAsync();
}
