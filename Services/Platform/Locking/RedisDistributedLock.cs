using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Platform.Redis;
using StackExchange.Redis;

namespace Platform.Locking;

/// <summary>
/// Locks in Redis: acquire, extend and release are one owner-checked script each; a fencing token from a
/// per-lock counter comes with every acquisition. Waiting is a pub/sub wake-up on release plus jittered
/// backoff bounded by the holder's remaining lease, never a hot loop.
/// </summary>
public sealed class RedisDistributedLock(IConnectionMultiplexer redis, IMeterFactory meters, ILogger<RedisDistributedLock> logger) : IDistributedLock
{
    public const string TelemetryName = "Platform.Locking";
    internal static readonly ActivitySource Source = new(TelemetryName);

    private static readonly RedisScript Acquire = RedisScript.FromResource<RedisDistributedLock>("acquire.lua");
    internal static readonly RedisScript Extend = RedisScript.FromResource<RedisDistributedLock>("extend.lua");
    internal static readonly RedisScript Release = RedisScript.FromResource<RedisDistributedLock>("release.lua");
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMilliseconds(500);

    private readonly LockMetrics _metrics = new(meters);

    public async Task<ILockHandle?> TryAcquireAsync(string name, TimeSpan lease, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(lease, TimeSpan.FromMilliseconds(30));
        ArgumentOutOfRangeException.ThrowIfLessThan(wait, TimeSpan.Zero);
        using var span = Source.StartActivity("lock acquire");
        span?.SetTag("lock.name", name);

        var owner = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var deadline = Stopwatch.GetTimestamp() + (long)(wait.TotalSeconds * Stopwatch.Frequency);
        ChannelMessageQueue? released = null;
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                var result = await TryOnceAsync(name, owner, lease, contended: attempt > 0);
                if (result.Handle is { } handle)
                {
                    span?.SetTag("lock.fence", handle.FencingToken);
                    return handle;
                }

                var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (left <= TimeSpan.Zero)
                {
                    return null;
                }
                if (attempt == 0)
                {
                    _metrics.ContentionWaits.Add(1);
                    // Subscribe before the next try, so a release between the try and the wait is not missed.
                    released = await redis.GetSubscriber().SubscribeAsync(RedisChannel.Literal(LockKeys.Released(name)));
                    continue;
                }

                // Until the release is announced, the holder's lease runs out, or a jittered backoff passes.
                var holderLeft = result.HolderLeaseLeft;
                var backoff = TimeSpan.FromMilliseconds(Random.Shared.Next(10, 20) * Math.Min(attempt, 25));
                var sleep = Min(Min(holderLeft, Min(backoff, MaxBackoff)), left);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(sleep);
                try
                {
                    await released!.ReadAsync(timeout.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // Timed out: try again.
                }
            }
        }
        finally
        {
            if (released is not null)
            {
                await released.UnsubscribeAsync();
            }
        }
    }

    public async Task<LockAttempt> TryAcquireOnceAsync(string name, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(lease, TimeSpan.FromMilliseconds(30));
        using var span = Source.StartActivity("lock acquire");
        span?.SetTag("lock.name", name);
        var result = await TryOnceAsync(name, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), lease, contended: false);
        span?.SetTag("lock.fence", result.Handle?.FencingToken);
        return result;
    }

    private async Task<LockAttempt> TryOnceAsync(string name, string owner, TimeSpan lease, bool contended)
    {
        var sent = Stopwatch.GetTimestamp();
        var result = (long[])(await Acquire.EvaluateAsync(redis.GetDatabase(),
            [LockKeys.Lock(name), LockKeys.Fence(name)], [owner, (long)lease.TotalMilliseconds]))!;
        if (result[0] == 1)
        {
            _metrics.Acquisitions.Add(1, new KeyValuePair<string, object?>("contended", contended));
            return new LockAttempt(new LockHandle(redis, name, owner, result[1], lease, sent, _metrics, logger), TimeSpan.Zero);
        }
        return new LockAttempt(null, TimeSpan.FromMilliseconds(Math.Max(1, result[1])));
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}

internal sealed class LockMetrics(IMeterFactory meters)
{
    private readonly Meter _meter = meters.Create(RedisDistributedLock.TelemetryName);
    public Counter<long> Acquisitions => field ??= _meter.CreateCounter<long>("locks.acquisitions", description: "Locks taken, by whether the caller had to wait.");
    public Counter<long> ContentionWaits => field ??= _meter.CreateCounter<long>("locks.contention_waits", description: "Acquisitions that found the lock held and waited.");
    public Counter<long> Losses => field ??= _meter.CreateCounter<long>("locks.losses", description: "Held locks lost before release (renewal refused or lease ran out).");
}
