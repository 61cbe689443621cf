using System.Diagnostics.Metrics;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Hosting;
using Platform.Sessions;

namespace Platform.RateLimiting;

/// <summary>
/// The gateway's limiter, plugged into ASP.NET Core's rate limiting middleware as its global limiter. Each
/// request of <c>/api</c>, <c>/auth</c> and <c>/notifications</c> is counted for its caller: the signed-in user
/// (limit by the tier in their session, so a tier change applies to the next request) or else the client address
/// (<c>Connection.RemoteIpAddress</c>, which the forwarded-headers middleware sets from a trusted proxy only; IPv6 per
/// /64, see <see cref="ClientAddress"/>). Requests to an endpoint marked <see cref="SignInEndpoint"/> also count per
/// address and per account, whatever their outcome. A service with a valid service key is not counted. Limit headers
/// are those of the current request on every counted response, a cached one included.
/// </summary>
public sealed class GatewayRateLimiter : PartitionedRateLimiter<HttpContext>
{
    public const string UnavailableReason = "RedisUnavailable";
    private static readonly string[] LimitedPrefixes = ["/api", "/auth", "/notifications"];

    private readonly RedisRateLimitStore _store;
    private readonly IOptionsMonitor<RateLimitingOptions> _options;
    private readonly ILogger<GatewayRateLimiter> _logger;
    private readonly Counter<long> _decisions;
    private readonly Counter<long> _failOpen;
    private long _lastOutageWarning;

    public GatewayRateLimiter(RedisRateLimitStore store, IOptionsMonitor<RateLimitingOptions> options,
        ILogger<GatewayRateLimiter> logger, IMeterFactory meters)
    {
        _store = store;
        _options = options;
        _logger = logger;
        var meter = meters.Create("Platform.RateLimiting");
        _decisions = meter.CreateCounter<long>("ratelimit.decisions", description: "Rate-limit decisions, by tier and outcome (admitted, rejected).");
        _failOpen = meter.CreateCounter<long>("ratelimit.fail_open", description: "Requests let through without a decision because Redis was unreachable.");
    }

    public override RateLimiterStatistics? GetStatistics(HttpContext resource) => null;

    // The middleware tries this synchronous path first and, when it is not acquired, awaits AcquireAsync:
    // deciding needs Redis, so only requests that are not limited at all are settled here.
    protected override RateLimitLease AttemptAcquireCore(HttpContext resource, int permitCount) =>
        IsLimited(resource) ? Lease.Pending : Lease.Admitted;

    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(HttpContext context, int permitCount, CancellationToken cancellationToken)
    {
        if (!IsLimited(context))
        {
            return Lease.Admitted;
        }

        if (await IsServiceAsync(context))
        {
            return Lease.Admitted;
        }

        var options = _options.CurrentValue;
        var (partition, tier) = Caller(context);
        try
        {
            foreach (var (signInPartition, rule) in await SignInRulesAsync(context, options))
            {
                var attempt = await _store.DecideAsync(signInPartition, rule);
                if (!attempt.Admitted)
                {
                    Record(tier, attempt);
                    return Lease.Rejected(attempt.RetryAfter);
                }
            }

            var limit = options.Tiers.TryGetValue(tier, out var perWindow) ? perWindow : options.Tiers["anonymous"];
            var decision = await _store.DecideAsync(partition, new RateLimitRule($"tier-{tier}", limit, options.Window));
            Record(tier, decision);
            WriteHeaders(context.Response, decision);
            return decision.Admitted ? Lease.Admitted : Lease.Rejected(decision.RetryAfter);
        }
        catch (Exception e) when (RedisOutage.IsOutage(e))
        {
            return FailOpenOrClosed(options, e);
        }
    }

    private static bool IsLimited(HttpContext context) =>
        LimitedPrefixes.Any(prefix => context.Request.Path.StartsWithSegments(prefix, StringComparison.OrdinalIgnoreCase));

    private static (string Partition, string Tier) Caller(HttpContext context)
    {
        if (context.User.FindFirstValue(ClaimTypes.NameIdentifier) is { } userId)
        {
            return ($"u:{userId}", context.User.FindFirstValue(SessionAuthenticationHandler.TierClaim) ?? "user");
        }
        return ($"ip:{ClientAddress.Partition(context.Connection.RemoteIpAddress)}", "anonymous");
    }

    /// <summary>Service-to-service calls (a valid <see cref="ServiceKeyAuthentication"/> key) are nobody's quota.</summary>
    private static async Task<bool> IsServiceAsync(HttpContext context)
    {
        if (!context.Request.Headers.ContainsKey(ServiceKeyAuthentication.HeaderName)
            || context.RequestServices.GetService<IAuthenticationSchemeProvider>() is not { } schemes
            || await schemes.GetSchemeAsync(ServiceKeyAuthentication.SchemeName) is null)
        {
            return false;
        }
        return (await context.AuthenticateAsync(ServiceKeyAuthentication.SchemeName)).Succeeded;
    }

    /// <summary>For the sign-in endpoint: the per-address and per-account attempt limits (the email read from the body).</summary>
    private static async Task<List<(string Partition, RateLimitRule Rule)>> SignInRulesAsync(HttpContext context, RateLimitingOptions options)
    {
        var rules = new List<(string, RateLimitRule)>();
        if (context.GetEndpoint()?.Metadata.GetMetadata<SignInEndpoint>() is null)
        {
            return rules;
        }
        rules.Add(($"signin-ip:{ClientAddress.Partition(context.Connection.RemoteIpAddress)}",
            new RateLimitRule("signin-ip", options.SignInAttemptsPerIp, options.SignInWindow, RateLimitAlgorithm.FixedWindow)));
        if (await ReadEmailAsync(context.Request) is { } email)
        {
            // Hashed: the key says which account is being tried without storing the address.
            var id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(email)))[..32];
            rules.Add(($"signin-email:{id}",
                new RateLimitRule("signin-email", options.SignInAttemptsPerEmail, options.SignInWindow, RateLimitAlgorithm.FixedWindow)));
        }
        return rules;
    }

    private static async Task<string?> ReadEmailAsync(HttpRequest request)
    {
        if (request.ContentLength > JsonBody.DefaultMaxBytes)
        {
            return null;
        }
        // Buffered (and rewound below) so that auth still receives the body; chunked bodies have no length.
        request.EnableBuffering(bufferThreshold: JsonBody.DefaultMaxBytes, bufferLimit: JsonBody.DefaultMaxBytes);
        try
        {
            // The same serializer options as the sign-in endpoint's binding (ASP.NET Core's web defaults: property names
            // in any case, the last of duplicates wins), so the account counted is the account auth signs in.
            var json = request.HttpContext.RequestServices?.GetService<Microsoft.Extensions.Options.IOptions<JsonOptions>>()?.Value.SerializerOptions
                ?? new JsonSerializerOptions(JsonSerializerDefaults.Web);
            var body = await JsonSerializer.DeserializeAsync<SignInBody>(request.Body, json);
            return body?.Email?.Trim().ToLowerInvariant() is { Length: > 0 } email ? email : null;
        }
        catch (Exception e) when (e is JsonException or IOException or NotSupportedException)
        {
            return null; // malformed or over-long: auth answers 400, and the per-IP limit still counted the attempt
        }
        finally
        {
            request.Body.Position = 0;
        }
    }

    /// <summary>The part of a sign-in body the limits read: the field auth binds the email from.</summary>
    private sealed record SignInBody(string? Email);

    // As the response starts, after anything that copied headers into it (an output-cache hit replays the headers
    // stored with its entry): the limit headers are always this request's own.
    private static void WriteHeaders(HttpResponse response, RateLimitDecision decision) =>
        response.OnStarting(static state =>
        {
            var (response, decision) = ((HttpResponse, RateLimitDecision))state;
            SetHeaders(response, decision);
            return Task.CompletedTask;
        }, (response, decision));

    private static void SetHeaders(HttpResponse response, RateLimitDecision decision)
    {
        var reset = RateLimitDecision.Seconds(decision.ResetAfter);
        response.Headers["X-RateLimit-Limit"] = decision.Rule.Limit.ToString();
        response.Headers["X-RateLimit-Remaining"] = decision.Remaining.ToString();
        response.Headers["X-RateLimit-Reset"] = reset.ToString();
        response.Headers["RateLimit-Policy"] = decision.Rule.PolicyHeader;
        response.Headers["RateLimit"] = $"\"{decision.Rule.Name}\";r={decision.Remaining};t={reset}";
    }

    private void Record(string tier, RateLimitDecision decision) =>
        _decisions.Add(1, new("tier", tier), new("rule", decision.Rule.Name), new("outcome", decision.Admitted ? "admitted" : "rejected"));

    private RateLimitLease FailOpenOrClosed(RateLimitingOptions options, Exception e)
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastOutageWarning);
        if (now - last > 60_000 && Interlocked.CompareExchange(ref _lastOutageWarning, now, last) == last)
        {
            _logger.LogWarning("Rate limiting cannot reach Redis ({Message}); requests are {Policy} (logged at most once a minute).",
                e.Message, options.FailClosed ? "refused with 503" : "let through");
        }
        if (options.FailClosed)
        {
            return Lease.Unavailable;
        }
        _failOpen.Add(1);
        return Lease.Admitted;
    }

    private sealed class Lease(bool acquired, TimeSpan? retryAfter, string? reason) : RateLimitLease
    {
        public static readonly Lease Admitted = new(true, null, null);
        public static readonly Lease Pending = new(false, null, null);
        public static readonly Lease Unavailable = new(false, null, UnavailableReason);
        public static Lease Rejected(TimeSpan retryAfter) => new(false, retryAfter, null);

        public override bool IsAcquired => acquired;

        public override IEnumerable<string> MetadataNames =>
            [.. retryAfter is null ? [] : new[] { MetadataName.RetryAfter.Name }, .. reason is null ? [] : new[] { MetadataName.ReasonPhrase.Name }];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = metadataName == MetadataName.RetryAfter.Name ? retryAfter
                : metadataName == MetadataName.ReasonPhrase.Name ? reason
                : null;
            return metadata is not null;
        }
    }
}
