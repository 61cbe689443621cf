using System.Diagnostics;
using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Net.Http.Headers;
using Platform.Sessions;

namespace Platform.Caching;

/// <summary>
/// An output-cache policy for authenticated APIs. ASP.NET Core's default policy refuses any request that carries
/// credentials, because it cannot know whether the answer depends on who asks. This one caches them, and keys the
/// entry by the caller's user id, roles and tier wherever the answer depends on the caller (<see cref="PerCaller"/>),
/// so one user's answer is never served to another, nor a former admin's answer to the same user demoted. Only the
/// query parameters a policy declares vary the key (none by default): junk query strings share the entry. It caches
/// only GET/HEAD, never under <c>/auth</c>, never a non-200, never a response that sets a cookie. It adds <c>X-Cache: HIT|MISS</c> to cacheable responses and counts them.
/// Put <c>UseOutputCache()</c> after <c>UseAuthorization()</c>: a revoked session is then refused (401) before
/// the cache is consulted.
/// </summary>
public sealed class CallerAwareCachePolicy : IOutputCachePolicy
{
    public const string CacheHeader = "X-Cache";
    private const string CallerKey = "caller";
    private const string RolesKey = "roles";
    private const string TierKey = "tier";
    private static readonly object OutcomeKey = new();

    private readonly string _name;
    private readonly TimeSpan _expiration;
    private readonly bool _varyByCaller;
    private readonly string[] _queryKeys;

    private CallerAwareCachePolicy(string name, TimeSpan expiration, bool varyByCaller, string[] queryKeys)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(expiration, TimeSpan.Zero);
        ArgumentNullException.ThrowIfNull(queryKeys);
        if (queryKeys.Any(k => string.IsNullOrWhiteSpace(k) || k == "*"))
        {
            throw new ArgumentException("Name each query parameter the endpoints read; '*' would store an entry per junk query string.", nameof(queryKeys));
        }
        (_name, _expiration, _varyByCaller, _queryKeys) = (name, expiration, varyByCaller, queryKeys);
    }

    public string Name => _name;

    /// <summary>
    /// Each caller gets their own entry (by user id, roles and tier): for answers that depend on who asks (their
    /// listings, their access). <paramref name="queryKeys"/>: the query parameters the endpoints read, if any.
    /// </summary>
    public static CallerAwareCachePolicy PerCaller(string name, TimeSpan expiration, params string[] queryKeys) =>
        new(name, expiration, varyByCaller: true, queryKeys);

    /// <summary>One entry for every caller: for answers that are the same whoever asks (a public profile).</summary>
    public static CallerAwareCachePolicy SharedByCallers(string name, TimeSpan expiration, params string[] queryKeys) =>
        new(name, expiration, varyByCaller: false, queryKeys);

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
        context.CacheVaryByRules.QueryKeys = _queryKeys;
        // One entry whatever name the service is reached by (its public host, http://api inside, a replica's own
        // port): these answers do not depend on it, and every replica and caller route then shares the entry.
        context.CacheVaryByRules.VaryByHost = false;
        if (_varyByCaller)
        {
            context.CacheVaryByRules.VaryByValues[CallerKey] = caller!;
            // A role or tier change leaves the old entries unreachable rather than served: a demoted admin's next
            // read runs the endpoint (403 where they are no member), and the entries age out with their lifetime.
            context.CacheVaryByRules.VaryByValues[RolesKey] = string.Join(',',
                http.User.FindAll(ClaimTypes.Role).Select(c => c.Value).Order(StringComparer.Ordinal));
            context.CacheVaryByRules.VaryByValues[TierKey] = http.User.FindFirstValue(SessionAuthenticationHandler.TierClaim) ?? "";
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
