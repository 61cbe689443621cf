using System.Diagnostics;
using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Net.Http.Headers;

namespace Platform.Caching;

/// <summary>
/// An output-cache policy for authenticated APIs. ASP.NET Core's default policy refuses any request that carries
/// credentials, because it cannot know whether the answer depends on who asks. This one caches them, and keys the
/// entry by the caller's user id wherever the answer depends on the caller (<see cref="PerCaller"/>), so one
/// user's answer is never served to another. It caches only GET/HEAD, never under <c>/auth</c>, never a non-200,
/// never a response that sets a cookie. It adds <c>X-Cache: HIT|MISS</c> to cacheable responses and counts them.
/// Put <c>UseOutputCache()</c> after <c>UseAuthorization()</c>: a revoked session is then refused (401) before
/// the cache is consulted.
/// </summary>
public sealed class CallerAwareCachePolicy : IOutputCachePolicy
{
    public const string CacheHeader = "X-Cache";
    private const string CallerKey = "caller";
    private static readonly object OutcomeKey = new();

    private readonly string _name;
    private readonly TimeSpan _expiration;
    private readonly bool _varyByCaller;

    private CallerAwareCachePolicy(string name, TimeSpan expiration, bool varyByCaller)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(expiration, TimeSpan.Zero);
        (_name, _expiration, _varyByCaller) = (name, expiration, varyByCaller);
    }

    public string Name => _name;

    /// <summary>Each caller gets their own entry: for answers that depend on who asks (their listings, their access).</summary>
    public static CallerAwareCachePolicy PerCaller(string name, TimeSpan expiration) => new(name, expiration, varyByCaller: true);

    /// <summary>One entry for every caller: for answers that are the same whoever asks (a public profile).</summary>
    public static CallerAwareCachePolicy SharedByCallers(string name, TimeSpan expiration) => new(name, expiration, varyByCaller: false);

    ValueTask IOutputCachePolicy.CacheRequestAsync(OutputCacheContext context, CancellationToken cancellationToken)
    {
        var http = context.HttpContext;
        var request = http.Request;
        var caller = http.User.FindFirstValue(ClaimTypes.NameIdentifier);
        var cacheable = (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
            && !request.Path.StartsWithSegments("/auth")
            && (!_varyByCaller || caller is not null);

        context.EnableOutputCaching = cacheable;
        context.AllowCacheLookup = cacheable;
        context.AllowCacheStorage = cacheable;
        // In-process request coalescing: concurrent misses on one key run the endpoint once per process.
        context.AllowLocking = true;
        if (!cacheable)
        {
            return ValueTask.CompletedTask;
        }

        context.ResponseExpirationTimeSpan = _expiration;
        context.CacheVaryByRules.QueryKeys = "*";
        // One entry whatever name the service is reached by (its public host, http://api inside, a replica's own
        // port): these answers do not depend on it, and every replica and caller route then shares the entry.
        context.CacheVaryByRules.VaryByHost = false;
        if (_varyByCaller)
        {
            context.CacheVaryByRules.VaryByValues[CallerKey] = caller!;
        }

        var outcome = new Outcome(this, context);
        http.Items[OutcomeKey] = outcome;
        http.Response.OnStarting(static state => ((Outcome)state).ReportAsync(), outcome);
        return ValueTask.CompletedTask;
    }

    ValueTask IOutputCachePolicy.ServeFromCacheAsync(OutputCacheContext context, CancellationToken cancellationToken)
    {
        if (context.HttpContext.Items[OutcomeKey] is Outcome outcome)
        {
            outcome.FoundInCache = true;
        }
        return ValueTask.CompletedTask;
    }

    ValueTask IOutputCachePolicy.ServeResponseAsync(OutputCacheContext context, CancellationToken cancellationToken)
    {
        if (!IsStorable(context.HttpContext.Response))
        {
            context.AllowCacheStorage = false;
        }
        return ValueTask.CompletedTask;
    }

    private static bool IsStorable(HttpResponse response) =>
        response.StatusCode == StatusCodes.Status200OK && !response.Headers.ContainsKey(HeaderNames.SetCookie);

    /// <summary>What happened to one cacheable request, written into the response as it starts.</summary>
    private sealed class Outcome(CallerAwareCachePolicy policy, OutputCacheContext context)
    {
        public bool FoundInCache { get; set; }

        public Task ReportAsync()
        {
            var response = context.HttpContext.Response;
            // The middleware stamps Age on a full response it copies from the cache and answers 304 only from a
            // cached entry; an entry found but not used (stale) leads to the endpoint running, with neither.
            var hit = FoundInCache && (response.Headers.ContainsKey(HeaderNames.Age) || response.StatusCode == StatusCodes.Status304NotModified);
            string? status = hit ? "HIT" : IsStorable(response) ? "MISS" : null;
            if (status is null)
            {
                return Task.CompletedTask;
            }

            response.Headers[CacheHeader] = status;
            Activity.Current?.SetTag(OutputCacheTelemetry.CacheStatusTag, status);
            var telemetry = context.HttpContext.RequestServices.GetService<OutputCacheTelemetry>();
            var tag = new KeyValuePair<string, object?>("policy", policy.Name);
            (hit ? telemetry?.Hits : telemetry?.Misses)?.Add(1, tag);
            return Task.CompletedTask;
        }
    }
}
