using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Logging;
using Platform.Hosting;
using StackExchange.Redis;

namespace Platform.Caching;

/// <summary>
/// The Redis store from Microsoft.AspNetCore.OutputCaching.StackExchangeRedis, made to fail open, counted, and closed
/// against the stale-store race.
/// <para>
/// The race: a miss loads the old value from the store of record, a write commits and evicts the tag (the entry is
/// not stored yet, so there is nothing to evict), then the miss stores the old answer, served for its whole lifetime.
/// Closed with a global eviction sequence (<c>{prefix}evictions</c>): each eviction increments it first; a miss reads
/// it before the endpoint runs, and reads it again once the entry and its tags are stored. If it moved, the entry is
/// deleted again and counted in <c>outputcache.discarded</c> (reason <c>evicted</c>): conservative, any eviction of
/// any tag in that window discards it. Costs: one GET per miss, one GET per store (plus a DEL when discarding), one
/// INCR per eviction; a hit sends nothing more than the entry's GET.
/// </para>
/// <para>
/// Within a request, an answer is stored only by the request whose own lookup missed (the middleware calls the
/// store from that request; with coalescing only the request that ran the endpoint stores). A request that stores
/// without having looked up (a policy with lookups off, or a coalesced request whose lookup was another's) cannot
/// prove its load followed the last eviction: its answer is not stored (<c>outputcache.discarded</c>, reason
/// <c>unverified</c>). Outside any request (a direct call) the store writes as it is told.
/// </para>
/// <para>
/// While Redis is unreachable (or refuses a command) a lookup is a miss (the endpoint answers from the store of record), a write is
/// skipped, and an eviction is skipped: each is counted in <c>outputcache.fail_open</c> and logged at most once a
/// minute. A skipped eviction leaves entries that may be stale for at most their lifetime if Redis kept them
/// (a network partition rather than a restart); that is the price of answering writes during an outage.
/// </para>
/// </summary>
internal sealed class FailOpenOutputCacheStore(
    IOutputCacheStore inner, IConnectionMultiplexer redis, string keyPrefix, IHttpContextAccessor requests,
    OutputCacheTelemetry telemetry, ILogger<FailOpenOutputCacheStore> logger)
    : IOutputCacheStore, IOutputCacheBufferStore
{
    private static readonly TimeSpan LogInterval = TimeSpan.FromMinutes(1);
    private static readonly object MissKey = new();
    private long _lastLoggedTicks;

    // The package's store implements the buffer interface (no byte[] copies); fall back to the plain one if not.
    private readonly IOutputCacheBufferStore? _buffered = inner as IOutputCacheBufferStore;

    private readonly RedisKey _evictionsKey = keyPrefix + "evictions";
    // The package's entry key (RedisOutputCacheStore.GetValueKey): InstanceName + "__MSOCV_" + key. The interface has
    // no delete; if a package update changed this, AnAnswerLoadedBeforeAWriteAndStoredAfterItsEvictionIsNeverServed fails.
    private readonly string _entryKeyPrefix = keyPrefix + "__MSOCV_";

    public async ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        using var span = OutputCacheTelemetry.Source.StartActivity("outputcache lookup");
        byte[]? value;
        try
        {
            value = await inner.GetAsync(key, cancellationToken);
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            FailedOpen("get", e);
            RememberMiss(key, evictions: null);
            span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, "Redis unavailable");
            return null;
        }
        span?.SetTag("outputcache.found", value is not null);
        if (value is null)
        {
            await RememberMissAsync(key);
        }
        return value;
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
        using var span = OutputCacheTelemetry.Source.StartActivity("outputcache lookup");
        bool found;
        try
        {
            found = await _buffered.TryGetAsync(key, destination, cancellationToken);
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            FailedOpen("get", e);
            RememberMiss(key, evictions: null);
            span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, "Redis unavailable");
            return false;
        }
        span?.SetTag("outputcache.found", found);
        if (!found)
        {
            await RememberMissAsync(key);
        }
        return found;
    }

    public ValueTask SetAsync(string key, byte[] value, string[]? tags, TimeSpan validFor, CancellationToken cancellationToken) =>
        SetAsync(key, new ReadOnlySequence<byte>(value), tags.AsMemory(), validFor, cancellationToken);

    public async ValueTask SetAsync(string key, ReadOnlySequence<byte> value, ReadOnlyMemory<string> tags, TimeSpan validFor, CancellationToken cancellationToken)
    {
        long? evictionsAtMiss = null;
        if (requests.HttpContext is { } request)
        {
            if (!request.Items.TryGetValue(MissKey, out var remembered) || remembered is not Miss miss || miss.Key != key)
            {
                telemetry.Discarded.Add(1, new KeyValuePair<string, object?>("reason", "unverified"));
                return;
            }
            if (miss.Evictions is null)
            {
                // The miss could not read the sequence (Redis failing): nothing could show this answer fresh.
                telemetry.FailOpen.Add(1, new KeyValuePair<string, object?>("operation", "set"));
                return;
            }
            evictionsAtMiss = miss.Evictions;
        }

        using var span = OutputCacheTelemetry.Source.StartActivity("outputcache store");
        var stored = false;
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
            stored = true;

            // Why this closes the race. Writer: commit to the store of record, INCR the sequence, evict (ZSCAN the tag
            // set, DEL each entry it lists). Reader: read the sequence (G0) at its miss, load, store the entry and add
            // it to its tag sets, read the sequence again (G1). Redis runs the commands in one order. If the writer's
            // INCR came before G0, it committed before the load began: the answer is fresh. If it came between G0 and
            // G1, G1 != G0 and the entry is deleted here. If it came after G1, the entry and its tags were already in
            // Redis (the package sends the SET, awaited, then the tag ZADDs fire-and-forget on this same multiplexer,
            // so on one server they are run before this GET), and the writer's ZSCAN, which starts after its INCR,
            // finds and deletes it. "!=" rather than ">" also catches a sequence lost with a Redis restart. (On a
            // cluster a tag set may live on another node than the sequence; this would then also need an awaited read
            // of each tag set before G1. Not built: the app runs one server.)
            // Two commands, not one script: the sequence and the entry share no hash tag (the package names entries),
            // so a script over both would not run on a cluster; the DEL is only sent when discarding.
            if (evictionsAtMiss is { } g0 && await ReadEvictionsAsync() != g0)
            {
                await Database.KeyDeleteAsync(_entryKeyPrefix + key);
                telemetry.Discarded.Add(1, new KeyValuePair<string, object?>("reason", "evicted"));
            }
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, "Redis unavailable");
            FailedOpen("set", e);
            if (stored && evictionsAtMiss is not null)
            {
                TryDeleteUnverified(key);
            }
        }
    }

    /// <summary>
    /// Increments the eviction sequence, then ZSCANs the tag's sorted set and deletes each entry it lists (the
    /// package's algorithm: never KEYS). The caller has already committed the write to its store of record.
    /// </summary>
    public async ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(tag);
        var kind = tag.Split(':', 2)[0];
        using var activity = OutputCacheTelemetry.Source.StartActivity("outputcache evict");
        activity?.SetTag("outputcache.tag", tag);
        try
        {
            // Before the scan, never after: a load that read before the write's commit and stores after this point
            // sees the sequence move and deletes its own entry (see SetAsync).
            await Database.StringIncrementAsync(_evictionsKey);
            await inner.EvictByTagAsync(tag, cancellationToken);
            telemetry.Evictions.Add(1, new KeyValuePair<string, object?>("tag", kind));
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, "Redis unavailable");
            FailedOpen("evict", e);
        }
    }

    private IDatabase Database => redis.GetDatabase();

    /// <summary>The sequence as Redis has it; 0 before the first eviction (an absent key).</summary>
    private async Task<long> ReadEvictionsAsync() => (long?)await Database.StringGetAsync(_evictionsKey) ?? 0;

    private async ValueTask RememberMissAsync(string key)
    {
        if (requests.HttpContext is null)
        {
            return;
        }
        long? evictions = null;
        try
        {
            evictions = await ReadEvictionsAsync();
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            FailedOpen("get", e);
        }
        RememberMiss(key, evictions);
    }

    /// <summary>Remembers, for the request that missed, the sequence its load comes after (null: unknown).</summary>
    private void RememberMiss(string key, long? evictions)
    {
        if (requests.HttpContext is { } request)
        {
            request.Items[MissKey] = new Miss(key, evictions);
        }
    }

    /// <summary>Stored, then Redis failed before the check: delete it if Redis still takes commands, without waiting.</summary>
    private void TryDeleteUnverified(string key)
    {
        try
        {
            Database.KeyDelete(_entryKeyPrefix + key, CommandFlags.FireAndForget);
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            // Redis is down: the entry may outlive this answer's freshness, as a skipped eviction's would (see above).
        }
    }

    private sealed record Miss(string Key, long? Evictions);

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
