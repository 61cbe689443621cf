using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Platform.Hosting;
using Platform.Redis;
using StackExchange.Redis;

namespace Platform.Locking;

/// <summary>
/// A held lock and its watchdog: renews the lease every lease/3 (owner-checked), and fires <see cref="LockLost"/>
/// when a renewal is refused or at the <see cref="LeaseDeadline"/> of the last acquire or renewal that succeeded,
/// counted from when it was sent: never after the server may have expired the lease.
/// </summary>
internal sealed class LockHandle : ILockHandle
{
    private readonly IConnectionMultiplexer _redis;
    private readonly string _owner;
    private readonly TimeSpan _lease;
    private readonly LockMetrics _metrics;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly LeaseDeadline _deadline;
    private readonly Task _watchdog;
    private int _disposed;

    /// <param name="leaseStarted">When the acquire that granted this lease was sent (Stopwatch timestamp).</param>
    public LockHandle(IConnectionMultiplexer redis, string name, string owner, long fencingToken, TimeSpan lease, long leaseStarted,
        LockMetrics metrics, ILogger logger)
    {
        (_redis, Name, _owner, FencingToken, _lease, _metrics, _logger) = (redis, name, owner, fencingToken, lease, metrics, logger);
        _deadline = new LeaseDeadline(lease, leaseStarted, () => Lose("no renewal succeeded in time: the lease may have run out on the server"));
        _watchdog = Task.Run(RenewAsync);
    }

    public string Name { get; }
    public long FencingToken { get; }
    public CancellationToken LockLost => _lost.Token;

    /// <summary>For tests: stop renewing, as a process that pauses (GC, VM freeze) would.</summary>
    internal void SimulatePause() => _stop.Cancel();

    private async Task RenewAsync()
    {
        // Renewals are housekeeping, not traced (each would be a span every lease/3 in the holder's trace, or a trace).
        using var quiet = Untraced.Begin();
        using var timer = new PeriodicTimer(_lease / 3);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token) && !_lost.IsCancellationRequested)
            {
                var sent = Stopwatch.GetTimestamp();
                try
                {
                    var renewed = (long)await RedisDistributedLock.Extend.EvaluateAsync(_redis.GetDatabase(),
                        [LockKeys.Lock(Name)], [_owner, (long)_lease.TotalMilliseconds]);
                    if (renewed == 0)
                    {
                        Lose("renewal refused: the lease had expired or another holder took it");
                        return;
                    }
                    _deadline.Extend(sent);
                }
                catch (Exception e)
                {
                    // Any failure, not only RedisException: a timeout is a TimeoutException, and a call the client
                    // cancelled when its connection failed is a TaskCanceledException. The deadline decides when the
                    // lock is lost; the watchdog keeps trying until then, and never throws into DisposeAsync.
                    _logger.LogWarning("Could not renew lock {Name}: {Message}", Name, e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped: released, or a simulated pause (the deadline then fires when the lease ends).
        }
    }

    private void Lose(string why)
    {
        if (Volatile.Read(ref _disposed) == 0 && !_lost.IsCancellationRequested)
        {
            _metrics.Losses.Add(1);
            _logger.LogWarning("Lock {Name} (fence {Fence}) lost: {Why}", Name, FencingToken, why);
            try
            {
                _lost.Cancel();
            }
            catch (AggregateException e)
            {
                // A caller's LockLost callback threw. This may run on a timer thread, where it would end the process.
                _logger.LogError(e, "A LockLost callback of lock {Name} threw", Name);
            }
        }
    }

    /// <summary>Releases the lock. Never throws: if the release fails, the lease simply runs out on the server.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        _stop.Cancel();
        await _deadline.DisposeAsync();
        try
        {
            await RedisDistributedLock.Release.EvaluateAsync(_redis.GetDatabase(),
                [LockKeys.Lock(Name)], [_owner, LockKeys.Released(Name)]);
        }
        catch (Exception e)
        {
            // A timeout too: the work under the lock is done, and the lease frees the lock anyway; releasing early is
            // only a courtesy to waiters. Throwing here would fail (and rerun) work that succeeded.
            _logger.LogWarning("Could not release lock {Name}; its lease will run out: {Message}", Name, e.Message);
        }
        await _watchdog; // ends at its next await: it catches everything
        _lost.Dispose();
        _stop.Dispose();
    }
}
