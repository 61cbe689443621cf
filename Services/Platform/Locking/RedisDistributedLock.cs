using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Platform.Redis;
using StackExchange.Redis;

namespace Platform.Locking;

/// <summary>
/// Locks in Redis: a plain SET NX PX takes a free lock, one owner-checked script per other operation, and a fencing
/// token for a holder that asks for one (<see cref="ILockHandle.GetFencingTokenAsync"/>). A caller that
/// waits joins the lock's line (first come, first served); a release hands the lock straight to the longest waiter
/// and wakes only that one, so contention causes no herd of retries. A waiter not woken within a third of its lease
/// checks its place (a lost message, or a holder that died and took the line with it).
/// </summary>
public sealed class RedisDistributedLock(IConnectionMultiplexer redis, IMeterFactory meters, ILogger<RedisDistributedLock> logger) : IDistributedLock
{
    public const string TelemetryName = "Platform.Locking";
    internal static readonly ActivitySource Source = new(TelemetryName);

    private static readonly RedisScript Enqueue = RedisScript.FromResource<RedisDistributedLock>("enqueue.lua", ScriptKeyAccess.DeclaredOnly);
    private static readonly RedisScript Recheck = RedisScript.FromResource<RedisDistributedLock>("recheck.lua", ScriptKeyAccess.DeclaredOnly);
    private static readonly RedisScript Leave = RedisScript.FromResource<RedisDistributedLock>("leave.lua", ScriptKeyAccess.DeclaredOnly);
    internal static readonly RedisScript Extend = RedisScript.FromResource<RedisDistributedLock>("extend.lua", ScriptKeyAccess.DeclaredOnly);
    internal static readonly RedisScript Release = RedisScript.FromResource<RedisDistributedLock>("release.lua", ScriptKeyAccess.DeclaredOnly);
    internal static readonly RedisScript Fence = RedisScript.FromResource<RedisDistributedLock>("fence.lua", ScriptKeyAccess.DeclaredOnly);

    private readonly LockMetrics _metrics = new(meters);
    private readonly LockRenewer _renewer = new();
    private readonly LockWaiters _waiters = new(redis);
    private readonly string _ownerPrefix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
    private long _owners;

    public async Task<ILockHandle?> TryAcquireAsync(string name, TimeSpan lease, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(lease, TimeSpan.FromMilliseconds(30));
        ArgumentOutOfRangeException.ThrowIfLessThan(wait, TimeSpan.Zero);
        using var span = Source.StartActivity("lock acquire");
        span?.SetTag("lock.name", name);

        var owner = NewOwner();
        var handle = wait == TimeSpan.Zero
            ? await TryTakeAsync(name, owner, lease)
            : await WaitInLineAsync(name, owner, lease, Stopwatch.GetTimestamp() + (long)(wait.TotalSeconds * Stopwatch.Frequency), cancellationToken);
        span?.SetTag("lock.acquired", handle is not null);
        return handle;
    }

    public async Task<LockAttempt> TryAcquireOnceAsync(string name, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(lease, TimeSpan.FromMilliseconds(30));
        using var span = Source.StartActivity("lock acquire");
        span?.SetTag("lock.name", name);
        var handle = await TryTakeAsync(name, NewOwner(), lease);
        span?.SetTag("lock.acquired", handle is not null);
        if (handle is not null)
        {
            return new LockAttempt(handle, TimeSpan.Zero);
        }
        // Held: a second round trip, only on this path. Freed in between (no TTL left): try again at once.
        var left = await redis.GetDatabase().KeyTimeToLiveAsync(LockKeys.Lock(name));
        return new LockAttempt(null, left is { } ms && ms > TimeSpan.Zero ? ms : TimeSpan.FromMilliseconds(1));
    }

    /// <summary>One try: a plain command, not a script, the cheapest take on the server. The entry's layout is enqueue.lua's.</summary>
    private async Task<LockHandle?> TryTakeAsync(string name, string owner, TimeSpan lease)
    {
        var sent = Stopwatch.GetTimestamp();
        var key = LockKeys.Lock(name);
        return await redis.GetDatabase().StringSetAsync(key, $"{owner}:{(long)lease.TotalMilliseconds}", lease, When.NotExists).ConfigureAwait(false)
            ? Held(name, owner, lease, sent, contended: false)
            : null;
    }

    private async Task<ILockHandle?> WaitInLineAsync(string name, string owner, TimeSpan lease, long deadline, CancellationToken cancellationToken)
    {
        RedisKey[] keys = [LockKeys.Lock(name)];
        RedisValue[] args = [owner, (long)lease.TotalMilliseconds];
        var db = redis.GetDatabase();
        var likelyHeld = _waiters.AnyWaiting(name);
        using var waiter = await _waiters.JoinAsync(name, owner);

        var joined = Stopwatch.GetTimestamp();
        var result = await Enqueue.EvaluateAsync(db, keys, [.. args, likelyHeld ? "0" : "1"]);
        if ((long)result == 1)
        {
            return Held(name, owner, lease, joined, contended: false);
        }
        _metrics.ContentionWaits.Add(1);
        try
        {
            while (true)
            {
                var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                var recheck = lease / 3;
                try
                {
                    await waiter.Handed.WaitAsync(Max(TimeSpan.Zero, left < recheck ? left : recheck), cancellationToken);
                    if (await HandedOverAsync(name, owner, lease, joined) is { } handle)
                    {
                        return handle;
                    }
                    waiter.Rearm();
                }
                catch (TimeoutException)
                {
                    // Not woken in time: the wait is over, or check our place in line.
                }
                if (Stopwatch.GetTimestamp() >= deadline)
                {
                    return await LeaveAsync(name, owner, lease, joined);
                }
                result = await Recheck.EvaluateAsync(db, keys, args);
                if ((long)result == 1 && await HandedOverAsync(name, owner, lease, joined) is { } held)
                {
                    return held;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Cancelled: leave the line; a lock handed over meanwhile goes on to the next waiter.
            if (await LeaveAsync(name, owner, lease, joined) is { } handed)
            {
                await handed.DisposeAsync();
            }
            throw;
        }
    }

    /// <summary>The wait is over: leave the line, unless the lock was handed over just before.</summary>
    private async Task<ILockHandle?> LeaveAsync(string name, string owner, TimeSpan lease, long joined)
    {
        var result = await Leave.EvaluateAsync(redis.GetDatabase(), [LockKeys.Lock(name)], [owner]);
        return (long)result == 1 ? await HandedOverAsync(name, owner, lease, joined) : null;
    }

    /// <summary>
    /// The lock was handed to this waiter. Its lease began at the hand-over, which is no earlier than when the waiter
    /// joined the line: counting from the join is safe. After a long wait that leaves too little of the lease, renew
    /// once first (null if that is refused: the lease ran out before the waiter saw the hand-over).
    /// </summary>
    private async Task<ILockHandle?> HandedOverAsync(string name, string owner, TimeSpan lease, long joined)
    {
        var started = joined;
        if (Stopwatch.GetElapsedTime(joined) > lease / 3)
        {
            started = Stopwatch.GetTimestamp();
            if ((long)await Extend.EvaluateAsync(redis.GetDatabase(), [LockKeys.Lock(name)], [owner, (long)lease.TotalMilliseconds]) == 0)
            {
                return null;
            }
        }
        return Held(name, owner, lease, started, contended: true);
    }

    private LockHandle Held(string name, string owner, TimeSpan lease, long started, bool contended)
    {
        _metrics.Acquisitions.Add(1, contended ? Contended : Uncontended);
        return new LockHandle(redis, name, owner, lease, started, _metrics, logger, _renewer);
    }

    private static readonly KeyValuePair<string, object?> Contended = new("contended", true);
    private static readonly KeyValuePair<string, object?> Uncontended = new("contended", false);

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>
    /// An owner token unique to one acquisition: this instance's random prefix and a counter. It need not be secret
    /// (it only tells holders apart), so no random draw per acquisition.
    /// </summary>
    private string NewOwner() => $"{_ownerPrefix}{Interlocked.Increment(ref _owners):x16}";
}

internal sealed class LockMetrics(IMeterFactory meters)
{
    private readonly Meter _meter = meters.Create(RedisDistributedLock.TelemetryName);
    public Counter<long> Acquisitions => field ??= _meter.CreateCounter<long>("locks.acquisitions", description: "Locks taken, by whether the caller had to wait.");
    public Counter<long> ContentionWaits => field ??= _meter.CreateCounter<long>("locks.contention_waits", description: "Acquisitions that found the lock held and waited.");
    public Counter<long> Losses => field ??= _meter.CreateCounter<long>("locks.losses", description: "Held locks lost before release (renewal refused or lease ran out).");
}
