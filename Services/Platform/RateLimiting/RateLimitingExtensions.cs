using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Platform.RateLimiting;

public static class RateLimitingExtensions
{
    /// <summary>
    /// ASP.NET Core's rate limiting middleware with <see cref="GatewayRateLimiter"/> as its global limiter, limits
    /// from the <c>RateLimiting</c> section. Over the limit: 429 problem+json with Retry-After (never early).
    /// Call <c>app.UseRateLimiter()</c> after <c>UseAuthentication()</c>, so the limiter knows the caller's tier.
    /// </summary>
    public static TBuilder AddRedisRateLimiting<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOptions<RateLimitingOptions>()
            .Bind(builder.Configuration.GetSection(RateLimitingOptions.SectionName))
            .Validate(o => o.Window > TimeSpan.Zero && o.SignInWindow > TimeSpan.Zero && o.Tiers.ContainsKey("anonymous")
                    && o.Tiers.Values.All(v => v > 0) && o.SignInAttemptsPerIp > 0 && o.SignInAttemptsPerEmail > 0,
                "RateLimiting: windows and limits must be positive, and Tiers must include 'anonymous'.")
            .ValidateOnStart();
        builder.Services.AddSingleton<RedisRateLimitStore>();
        builder.Services.AddSingleton<GatewayRateLimiter>();
        builder.Services.AddRateLimiter(_ => { });
        builder.Services.AddOptions<RateLimiterOptions>().Configure<GatewayRateLimiter>((options, limiter) =>
        {
            options.GlobalLimiter = limiter;
            options.OnRejected = OnRejectedAsync;
        });
        return builder;
    }

    private static async ValueTask OnRejectedAsync(OnRejectedContext context, CancellationToken cancellationToken)
    {
        var http = context.HttpContext;
        var problems = http.RequestServices.GetRequiredService<IProblemDetailsService>();
        if (context.Lease.TryGetMetadata(MetadataName.ReasonPhrase, out var reason) && reason == GatewayRateLimiter.UnavailableReason)
        {
            http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            http.Response.Headers.RetryAfter = "5";
            await problems.WriteAsync(new ProblemDetailsContext
            {
                HttpContext = http,
                ProblemDetails = { Status = 503, Title = "Rate limiting is unavailable", Detail = "Redis cannot be reached and limits fail closed. Retry shortly." },
            });
            return;
        }

        var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? RateLimitDecision.Seconds(wait) : 1;
        http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        http.Response.Headers.RetryAfter = retryAfter.ToString();
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails =
            {
                Status = 429,
                Title = "Too many requests",
                Detail = $"The rate limit for this caller is used up. Retry after {retryAfter} s.",
            },
        });
    }
}
