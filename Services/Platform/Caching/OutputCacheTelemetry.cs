using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Platform.Caching;

/// <summary>Spans and metrics of the Redis output cache (names under <c>Platform.*</c>, registered by ServiceDefaults).</summary>
public sealed class OutputCacheTelemetry : IDisposable
{
    public const string Name = "Platform.Caching";
    public static readonly ActivitySource Source = new(Name);

    /// <summary>The tag on the request's span that says whether the cache answered (HIT) or the endpoint ran (MISS).</summary>
    public const string CacheStatusTag = "http.response.cache";

    private readonly Meter _meter;

    public OutputCacheTelemetry(IMeterFactory meters)
    {
        _meter = meters.Create(Name);
        Hits = _meter.CreateCounter<long>("outputcache.hits", description: "Cacheable requests answered from the cache (304s included), by policy.");
        Misses = _meter.CreateCounter<long>("outputcache.misses", description: "Cacheable requests for which the endpoint ran, by policy.");
        Evictions = _meter.CreateCounter<long>("outputcache.evictions", description: "Tag evictions, by tag kind (the part of the tag before ':').");
        FailOpen = _meter.CreateCounter<long>("outputcache.fail_open", description: "Cache operations skipped because Redis was unreachable, by operation (get, set, evict).");
        Discarded = _meter.CreateCounter<long>("outputcache.discarded", description:
            "Answers not kept because an eviction may have overlapped their load, by reason (evicted: one did; unverified: the request read no eviction sequence at its miss).");
    }

    public Counter<long> Hits { get; }
    public Counter<long> Misses { get; }
    public Counter<long> Evictions { get; }
    public Counter<long> FailOpen { get; }
    public Counter<long> Discarded { get; }

    public void Dispose() => _meter.Dispose();
}
