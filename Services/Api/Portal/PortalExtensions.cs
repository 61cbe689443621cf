using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace Api.Portal;

/// <summary>
/// The web portal: static HTML, CSS and ES modules from <c>wwwroot</c>, served by the gateway so that it shares an
/// origin with <c>/api</c>, <c>/auth</c> and <c>/notifications</c> and the HttpOnly, SameSite=Strict session cookie is
/// the only credential the browser needs. No build step: what is in wwwroot is what the browser runs.
/// </summary>
public static class PortalExtensions
{
    /// <summary>The portal's pages: each serves index.html, whose router renders the page (deep links, back button).</summary>
    public static readonly string[] Pages = ["/", "/signin", "/register", "/projects", "/projects/{id}", "/feed", "/sessions", "/admin"];

    /// <summary>
    /// Scripts only from this origin and never inline, no framing, no plugins: an injected attribute such as
    /// <c>onerror=...</c> would not run even if a page forgot to escape it (the pages never build HTML from data).
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    /// <summary>
    /// Security headers on every answer (portal pages, assets, and the JSON of the API alike), and the trace id of the
    /// request as the W3C Trace Context <c>traceresponse</c> header, so a client can find the request in the dashboard.
    /// </summary>
    public static IApplicationBuilder UsePortalHeaders(this IApplicationBuilder app) =>
        app.Use((context, next) =>
        {
            // On starting: error handlers clear the headers of a failed response, and proxied answers bring their own.
            context.Response.OnStarting(() =>
            {
                var headers = context.Response.Headers;
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers.XContentTypeOptions = "nosniff";
                headers.XFrameOptions = "DENY";
                headers["Referrer-Policy"] = "no-referrer";
                headers["Cross-Origin-Opener-Policy"] = "same-origin";
                if (context.Features.Get<IHttpActivityFeature>()?.Activity is { } activity)
                {
                    headers["traceresponse"] = $"00-{activity.TraceId}-{activity.SpanId}-{(activity.Recorded ? "01" : "00")}";
                }
                return Task.CompletedTask;
            });
            return next(context);
        });

    /// <summary>
    /// The assets (fingerprinted by the build: ETags, and far-future caching for fingerprinted names), each page's URL,
    /// and <c>/portal/state</c>. None of these is under a rate-limited prefix, so loading the portal costs no quota.
    /// </summary>
    public static IEndpointRouteBuilder MapPortal(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapStaticAssets();
        // index.html is revalidated on every load (ETag), so a new deployment's page is picked up at once.
        var page = new StaticFileOptions
        {
            OnPrepareResponse = file => file.Context.Response.Headers.CacheControl = "no-cache",
        };
        foreach (var pattern in Pages)
        {
            endpoints.MapFallbackToFile(pattern, "index.html", page);
        }
        var dashboardUrl = endpoints.ServiceProvider.GetRequiredService<IConfiguration>()["Portal:DashboardUrl"] is { Length: > 0 } url
            ? url.TrimEnd('/') : null;
        // Whether the request carries a live session, answered without a 401: a signed-out visitor's first page
        // then has no failed request (browsers log those as console errors), and the cookie stays unreadable to scripts.
        endpoints.MapGet("/portal/state", (HttpContext context) =>
        {
            context.Response.Headers.CacheControl = "no-store";
            return TypedResults.Ok(new PortalState(context.User.Identity?.IsAuthenticated == true, dashboardUrl));
        });
        return endpoints;
    }
}

/// <summary>What the portal's first script asks: is this browser signed in, and where is the Aspire dashboard (if one runs).</summary>
public sealed record PortalState(bool SignedIn, string? DashboardUrl);
