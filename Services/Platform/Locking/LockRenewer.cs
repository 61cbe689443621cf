using System.Collections.Concurrent;
using System.Diagnostics;

namespace Platform.Locking;

/// <summary>
/// One renewal loop for every lock this process holds (through one <see cref="RedisDistributedLock"/>), instead of a
/// loop and a timer per handle: it sleeps until the earliest renewal or <c>LockLost</c> deadline is due, starts the
/// renewals that are due without waiting for them (a stalled one holds up no other), fires the deadlines that have
/// passed, and ends when no lock is held.
/// </summary>
internal sealed class LockRenewer
{
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(1);
    private readonly ConcurrentDictionary<LockHandle, byte> _held = new();
    private readonly SemaphoreSlim _earlier = new(0, 1);
    private long _wakeAt = long.MaxValue;
    private int _running;

    public void Add(LockHandle handle)
    {
        _held[handle] = 0;
        // Lock-free: many callers take and release locks at once, and most find the loop running.
        if (Interlocked.CompareExchange(ref _running, 1, 0) == 0)
        {
            _ = Task.Run(LoopAsync);
            return;
        }
        if (handle.RenewAt < Volatile.Read(ref _wakeAt) && _earlier.CurrentCount == 0)
        {
            try
            {
                _earlier.Release(); // due before the loop wakes (a shorter lease): wake it now
            }
            catch (SemaphoreFullException)
            {
                // Another Add woke it already.
            }
        }
    }

    public void Remove(LockHandle handle) => _held.TryRemove(handle, out _);

    private async Task LoopAsync()
    {
        while (true)
        {
            if (_held.IsEmpty)
            {
                Volatile.Write(ref _running, 0);
                // A handle added between the check and the write found the loop still running: run on for it.
                if (_held.IsEmpty || Interlocked.CompareExchange(ref _running, 1, 0) != 0)
                {
                    return;
                }
            }
            var now = Stopwatch.GetTimestamp();
            var next = now + (long)(Idle.TotalSeconds * Stopwatch.Frequency);
            foreach (var handle in _held.Keys)
            {
                next = Math.Min(next, handle.Check(now));
            }
            Volatile.Write(ref _wakeAt, next);
            var sleep = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
            if (sleep > TimeSpan.Zero)
            {
                await _earlier.WaitAsync(sleep).ConfigureAwait(false);
            }
        }
    }
}
