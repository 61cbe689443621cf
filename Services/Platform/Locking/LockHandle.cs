using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Platform.Hosting;
using Platform.Redis;
using StackExchange.Redis;

namespace Platform.Locking;

/// <summary>
/// A held lock: renewed every lease/3 (owner-checked) by the process's <see cref="LockRenewer"/>, and lost (fires
/// <see cref="LockLost"/>) when a renewal is refused or at its <see cref="DeadlineAt"/>: the lease of the last acquire
/// or renewal that succeeded, counted from when it was sent, less a margin, so never after the server may have expired
/// the lease. No timer of its own: the renewer's one loop watches every handle's renewal and deadline.
/// </summary>
internal sealed class LockHandle : ILockHandle
{
    private readonly IConnectionMultiplexer _redis;
    private readonly string _owner;
    private readonly RedisKey _key;
    private readonly TimeSpan _lease;
    private readonly LockMetrics _metrics;
    private readonly ILogger _logger;
    private readonly LockRenewer _renewer;
    private readonly CancellationTokenSource _lost = new();
    private Task<long>? _token;
    private readonly long _leaseLessMargin;
    private long _leaseSentAt;
    private long _renewAt;
    private int _renewing;
    private int _paused;
    private int _disposed;
    private int _lostOnce;

    /// <param name="leaseStarted">
    /// A moment no later than the start of this lease on the server (Stopwatch timestamp): when the acquire that took it
    /// was sent, or for a lock handed over from the line, when the waiter joined it.
    /// </param>
    public LockHandle(IConnectionMultiplexer redis, string name, string owner, TimeSpan lease, long leaseStarted,
        LockMetrics metrics, ILogger logger, LockRenewer renewer)
    {
        (_redis, Name, _owner, _lease, _metrics, _logger, _renewer) = (redis, name, owner, lease, metrics, logger, renewer);
        _key = LockKeys.Lock(name);
        _leaseLessMargin = (long)((lease - LeaseDeadline.MarginOf(lease)).TotalSeconds * Stopwatch.Frequency);
        _leaseSentAt = leaseStarted;
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
        var issued = Volatile.Read(ref _token);
        if (issued is not null && !issued.IsFaulted && !issued.IsCanceled)
        {
            return issued;
        }
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        // Two first asks at once: one token is kept for both; the other only advanced the counter, which is harmless.
        var asked = IssueTokenAsync();
        return Interlocked.CompareExchange(ref _token, asked, issued) == issued ? asked : Volatile.Read(ref _token)!;
    }

    private async Task<long> IssueTokenAsync()
    {
        var token = (long)await RedisDistributedLock.Fence.EvaluateAsync(_redis.GetDatabase(),
            [_key, LockKeys.Fence(Name)], [_owner]).ConfigureAwait(false);
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

    /// <summary>When the lease may have ended on the server, unless a renewal succeeds first (Stopwatch timestamp).</summary>
    public long DeadlineAt => Volatile.Read(ref _leaseSentAt) + _leaseLessMargin;

    /// <summary>
    /// The renewer's look at this handle: lost if its deadline has passed, else a renewal started if one is due.
    /// Returns when to look again.
    /// </summary>
    public long Check(long now)
    {
        if (now >= DeadlineAt)
        {
            _renewer.Remove(this);
            // Off the loop: the callers' LockLost callbacks must not hold up other handles' renewals and deadlines.
            ThreadPool.UnsafeQueueUserWorkItem(static handle => handle.Lose("no renewal succeeded in time: the lease may have run out on the server"),
                this, preferLocal: false);
            return long.MaxValue;
        }
        var renewAt = RenewAt <= now ? StartRenewal(now) : RenewAt;
        return Math.Min(renewAt, DeadlineAt);
    }

    /// <summary>For tests: stop renewing, as a process that pauses (GC, VM freeze) would.</summary>
    internal void SimulatePause() => Volatile.Write(ref _paused, 1);

    /// <summary>Starts a renewal unless one is still on its way; returns when the next is due.</summary>
    private long StartRenewal(long now)
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
                [_key], [_owner, (long)_lease.TotalMilliseconds]).ConfigureAwait(false);
            if (renewed == 0)
            {
                Lose("renewal refused: the lease had expired or another holder took it");
                return;
            }
            ExtendDeadline(sent);
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

    /// <summary>A renewal sent at <paramref name="sent"/> succeeded: the lease now ends a lease after that send.</summary>
    private void ExtendDeadline(long sent)
    {
        for (var seen = Volatile.Read(ref _leaseSentAt); sent > seen; seen = Volatile.Read(ref _leaseSentAt))
        {
            if (Interlocked.CompareExchange(ref _leaseSentAt, sent, seen) == seen)
            {
                return;
            }
        }
    }

    private void Lose(string why)
    {
        if (Volatile.Read(ref _disposed) == 0 && Interlocked.Exchange(ref _lostOnce, 1) == 0)
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
                // A caller's LockLost callback threw. This runs on a thread-pool thread, where it would end the process.
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
        try
        {
            await RedisDistributedLock.Release.EvaluateAsync(_redis.GetDatabase(),
                [_key], [_owner, LockKeys.HandoffChannel]);
        }
        catch (Exception e)
        {
            // A timeout too: the work under the lock is done, and the lease frees the lock anyway (the line waits that
            // long). Throwing here would fail (and rerun) work that succeeded.
            _logger.LogWarning("Could not release lock {Name}; its lease will run out: {Message}", Name, e.Message);
        }
    }
}
