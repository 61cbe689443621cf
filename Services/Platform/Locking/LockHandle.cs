using System.Diagnostics;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Platform.Locking;

/// <summary>
/// A held lock and its watchdog: renews the lease every lease/3 (owner-checked), and fires <see cref="LockLost"/>
/// when a renewal is refused or the lease has run out since the last renewal that succeeded.
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
    private readonly Task _watchdog;
    private int _disposed;

    /// <param name="leaseStarted">When the acquire that granted this lease was sent (Stopwatch timestamp).</param>
    public LockHandle(IConnectionMultiplexer redis, string name, string owner, long fencingToken, TimeSpan lease, long leaseStarted, LockMetrics metrics, ILogger logger)
    {
        (_redis, Name, _owner, FencingToken, _lease, _metrics, _logger) = (redis, name, owner, fencingToken, lease, metrics, logger);
        _watchdog = Task.Run(() => RenewAsync(leaseStarted));
    }

    public string Name { get; }
    public long FencingToken { get; }
    public CancellationToken LockLost => _lost.Token;

    /// <summary>For tests: stop renewing, as a process that pauses (GC, VM freeze) would.</summary>
    internal void SimulatePause() => _stop.Cancel();

    private async Task RenewAsync(long lastRenewed)
    {
        // Lease times are counted from when the command was SENT: Redis started the lease no earlier than that,
        // so the local deadline never falls after the server's and LockLost is never late.
        using var timer = new PeriodicTimer(_lease / 3);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
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
                    lastRenewed = sent;
                }
                catch (RedisException e)
                {
                    _logger.LogWarning("Could not renew lock {Name}: {Message}", Name, e.Message);
                }
                if (Stopwatch.GetElapsedTime(lastRenewed) >= _lease)
                {
                    Lose("the lease ran out without a successful renewal");
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped: released, or a simulated pause. In a pause the lease simply runs out; see below.
        }
        if (Volatile.Read(ref _disposed) == 0)
        {
            // Paused: nobody renews any more, so the lock is lost when the lease ends.
            var left = _lease - Stopwatch.GetElapsedTime(lastRenewed);
            if (left > TimeSpan.Zero)
            {
                await Task.Delay(left);
            }
            Lose("the lease ran out while renewals were stopped");
        }
    }

    private void Lose(string why)
    {
        if (Volatile.Read(ref _disposed) == 0 && !_lost.IsCancellationRequested)
        {
            _metrics.Losses.Add(1);
            _logger.LogWarning("Lock {Name} (fence {Fence}) lost: {Why}", Name, FencingToken, why);
            _lost.Cancel();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        _stop.Cancel();
        await _watchdog;
        try
        {
            await RedisDistributedLock.Release.EvaluateAsync(_redis.GetDatabase(),
                [LockKeys.Lock(Name)], [_owner, LockKeys.Released(Name)]);
        }
        catch (RedisException e)
        {
            // The lease frees the lock anyway; releasing early is only a courtesy to waiters.
            _logger.LogWarning("Could not release lock {Name}: {Message}", Name, e.Message);
        }
        _lost.Dispose();
        _stop.Dispose();
    }
}
