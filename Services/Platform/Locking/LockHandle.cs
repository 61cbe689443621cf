using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Platform.Hosting;
using Platform.Redis;
using StackExchange.Redis;

namespace Platform.Locking;

/// <summary>
/// A held lock: renewed every lease/3 (owner-checked) by the process's <see cref="LockRenewer"/>, and lost (fires
/// <see cref="LockLost"/>) when a renewal is refused or at the <see cref="LeaseDeadline"/> of the last acquire or
/// renewal that succeeded, counted from when it was sent: never after the server may have expired the lease. Its only
/// timer is that deadline's.
/// </summary>
internal sealed class LockHandle : ILockHandle
{
    private readonly IConnectionMultiplexer _redis;
    private readonly string _owner;
    private readonly TimeSpan _lease;
    private readonly LockMetrics _metrics;
    private readonly ILogger _logger;
    private readonly LockRenewer _renewer;
    private readonly CancellationTokenSource _lost = new();
    private readonly LeaseDeadline _deadline;
    private readonly Lock _tokenGate = new();
    private Task<long>? _token;
    private long _renewAt;
    private int _renewing;
    private int _paused;
    private int _disposed;

    /// <param name="leaseStarted">
    /// A moment no later than the start of this lease on the server (Stopwatch timestamp): when the acquire that took it
    /// was sent, or for a lock handed over from the line, when the waiter joined it.
    /// </param>
    public LockHandle(IConnectionMultiplexer redis, string name, string owner, TimeSpan lease, long leaseStarted,
        LockMetrics metrics, ILogger logger, LockRenewer renewer)
    {
        (_redis, Name, _owner, _lease, _metrics, _logger, _renewer) = (redis, name, owner, lease, metrics, logger, renewer);
        _deadline = new LeaseDeadline(lease, leaseStarted, () => Lose("no renewal succeeded in time: the lease may have run out on the server"));
        _renewAt = leaseStarted + RenewEvery;
        renewer.Add(this);
    }

    public string Name { get; }
    public CancellationToken LockLost => _lost.Token;

    /// <summary>
    /// Issued on demand, not with the acquisition: a holder that only needs mutual exclusion never pays for fencing,
    /// and a hand-over in the line needs no fence work. Asked once per holding (a failed ask is asked again).
    /// </summary>
    public Task<long> GetFencingTokenAsync()
    {
        if (_lost.IsCancellationRequested)
        {
            return Task.FromException<long>(new LockLostException(Name, LockLost));
        }
        lock (_tokenGate)
        {
            if (_token is null || _token.IsFaulted)
            {
                ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
                _token = IssueTokenAsync();
            }
            return _token;
        }
    }

    private async Task<long> IssueTokenAsync()
    {
        var token = (long)await RedisDistributedLock.Fence.EvaluateAsync(_redis.GetDatabase(),
            [LockKeys.Lock(Name), LockKeys.Fence(Name)], [_owner]).ConfigureAwait(false);
        if (token == 0)
        {
            Lose("its fencing token was refused: the lease had expired or another holder took it");
            throw new LockLostException(Name, LockLost);
        }
        return token;
    }

    private long RenewEvery => (long)(_lease.TotalSeconds / 3 * Stopwatch.Frequency);

    /// <summary>When the next renewal is due (Stopwatch timestamp).</summary>
    public long RenewAt => Volatile.Read(ref _renewAt);

    /// <summary>For tests: stop renewing, as a process that pauses (GC, VM freeze) would.</summary>
    internal void SimulatePause() => Volatile.Write(ref _paused, 1);

    /// <summary>Starts a renewal unless one is still on its way; returns when the next is due.</summary>
    public long StartRenewal(long now)
    {
        var next = now + RenewEvery;
        Volatile.Write(ref _renewAt, next);
        if (Volatile.Read(ref _paused) == 0 && Volatile.Read(ref _disposed) == 0 && Interlocked.Exchange(ref _renewing, 1) == 0)
        {
            _ = RenewAsync();
        }
        return next;
    }

    private async Task RenewAsync()
    {
        // Renewals are housekeeping, not traced (each would be a span every lease/3 in the holder's trace, or a trace).
        using var quiet = Untraced.Begin();
        var sent = Stopwatch.GetTimestamp();
        try
        {
            var renewed = (long)await RedisDistributedLock.Extend.EvaluateAsync(_redis.GetDatabase(),
                [LockKeys.Lock(Name)], [_owner, (long)_lease.TotalMilliseconds]).ConfigureAwait(false);
            if (renewed == 0)
            {
                Lose("renewal refused: the lease had expired or another holder took it");
                return;
            }
            _deadline.Extend(sent);
        }
        catch (Exception e)
        {
            // Any failure, not only RedisException: a timeout is a TimeoutException, and a call the client cancelled
            // when its connection failed is a TaskCanceledException. The deadline decides when the lock is lost; the
            // renewer tries again at the next tick until then.
            _logger.LogWarning("Could not renew lock {Name}: {Message}", Name, e.Message);
        }
        finally
        {
            Volatile.Write(ref _renewing, 0);
        }
    }

    private void Lose(string why)
    {
        if (Volatile.Read(ref _disposed) == 0 && !_lost.IsCancellationRequested)
        {
            _renewer.Remove(this);
            _metrics.Losses.Add(1);
            _logger.LogWarning("Lock {Name} lost: {Why}", Name, why);
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

    /// <summary>
    /// Releases the lock, handing it to the longest waiter if any. Never throws: if the release fails, the lease simply
    /// runs out on the server.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        _renewer.Remove(this);
        await _deadline.DisposeAsync();
        try
        {
            await RedisDistributedLock.Release.EvaluateAsync(_redis.GetDatabase(),
                [LockKeys.Lock(Name)], [_owner, LockKeys.HandoffChannel]);
        }
        catch (Exception e)
        {
            // A timeout too: the work under the lock is done, and the lease frees the lock anyway (the line waits that
            // long). Throwing here would fail (and rerun) work that succeeded.
            _logger.LogWarning("Could not release lock {Name}; its lease will run out: {Message}", Name, e.Message);
        }
    }
}
