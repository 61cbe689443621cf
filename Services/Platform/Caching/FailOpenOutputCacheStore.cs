using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Logging;
using Platform.Hosting;
using StackExchange.Redis;

namespace Platform.Caching;

/// <summary>
/// The Redis store from Microsoft.AspNetCore.OutputCaching.StackExchangeRedis, made to fail open and counted.
/// While Redis is unreachable (or refuses a command) a lookup is a miss (the endpoint answers from the store of record), a write is
/// skipped, and an eviction is skipped: each is counted in <c>outputcache.fail_open</c> and logged at most once a
/// minute. A skipped eviction leaves entries that may be stale for at most their lifetime if Redis kept them
/// (a network partition rather than a restart); that is the price of answering writes during an outage.
/// </summary>
internal sealed class FailOpenOutputCacheStore(
    IOutputCacheStore inner, OutputCacheTelemetry telemetry, ILogger<FailOpenOutputCacheStore> logger)
    : IOutputCacheStore, IOutputCacheBufferStore
{
    private static readonly TimeSpan LogInterval = TimeSpan.FromMinutes(1);
    private long _lastLoggedTicks;

    // The package's store implements the buffer interface (no byte[] copies); fall back to the plain one if not.
    private readonly IOutputCacheBufferStore? _buffered = inner as IOutputCacheBufferStore;

    public async ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            return await inner.GetAsync(key, cancellationToken);
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            FailedOpen("get", e);
            return null;
        }
    }

    public async ValueTask<bool> TryGetAsync(string key, PipeWriter destination, CancellationToken cancellationToken)
    {
        if (_buffered is null)
        {
            var value = await GetAsync(key, cancellationToken);
            if (value is null)
            {
                return false;
            }
            await destination.WriteAsync(value, cancellationToken);
            return true;
        }
        try
        {
            return await _buffered.TryGetAsync(key, destination, cancellationToken);
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            FailedOpen("get", e);
            return false;
        }
    }

    public ValueTask SetAsync(string key, byte[] value, string[]? tags, TimeSpan validFor, CancellationToken cancellationToken) =>
        SetAsync(key, new ReadOnlySequence<byte>(value), tags.AsMemory(), validFor, cancellationToken);

    public async ValueTask SetAsync(string key, ReadOnlySequence<byte> value, ReadOnlyMemory<string> tags, TimeSpan validFor, CancellationToken cancellationToken)
    {
        try
        {
            if (_buffered is not null)
            {
                await _buffered.SetAsync(key, value, tags, validFor, cancellationToken);
            }
            else
            {
                await inner.SetAsync(key, value.ToArray(), tags.ToArray(), validFor, cancellationToken);
            }
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            FailedOpen("set", e);
        }
    }

    /// <summary>
    /// ZSCANs the tag's sorted set and deletes each entry it lists (the package's algorithm: never KEYS).
    /// </summary>
    public async ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(tag);
        var kind = tag.Split(':', 2)[0];
        using var activity = OutputCacheTelemetry.Source.StartActivity("outputcache evict");
        activity?.SetTag("outputcache.tag", tag);
        try
        {
            await inner.EvictByTagAsync(tag, cancellationToken);
            telemetry.Evictions.Add(1, new KeyValuePair<string, object?>("tag", kind));
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, "Redis unavailable");
            FailedOpen("evict", e);
        }
    }

    /// <summary>Unreachable, timed out, or refusing (out of memory, loading, read-only): for a cache, all the same.</summary>
    private static bool IsRedisFailure(Exception e) => e is RedisException || RedisOutage.IsOutage(e);

    private void FailedOpen(string operation, Exception e)
    {
        telemetry.FailOpen.Add(1, new KeyValuePair<string, object?>("operation", operation));
        var now = DateTime.UtcNow.Ticks;
        var last = Interlocked.Read(ref _lastLoggedTicks);
        if (now - last >= LogInterval.Ticks && Interlocked.CompareExchange(ref _lastLoggedTicks, now, last) == last)
        {
            logger.LogWarning("Output cache unavailable, serving without it (fail open) from {Operation}: {Message}", operation, e.Message);
        }
    }
}
