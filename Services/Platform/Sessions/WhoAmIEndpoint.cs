using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;

namespace Platform.Sessions;

/// <summary>The caller as this service sees them, authenticated against the shared Redis sessions.</summary>
public sealed record WhoAmI(string Service, string UserId, string Email, string Tier, IReadOnlyList<string> Roles, string SessionId);

public static class WhoAmIEndpoint
{
    /// <summary>Maps <c>GET {prefix}/whoami</c> (authenticated): shows that every service accepts the same session.</summary>
    public static RouteHandlerBuilder MapWhoAmI(this IEndpointRouteBuilder endpoints, string prefix) =>
        endpoints.MapGet($"{prefix.TrimEnd('/')}/whoami", (ClaimsPrincipal user, IHostEnvironment environment) => TypedResults.Ok(new WhoAmI(
                environment.ApplicationName.ToLowerInvariant(),
                user.FindFirstValue(ClaimTypes.NameIdentifier)!,
                user.FindFirstValue(ClaimTypes.Email)!,
                user.FindFirstValue(SessionAuthenticationHandler.TierClaim)!,
                user.FindAll(ClaimTypes.Role).Select(c => c.Value).ToList(),
                user.FindFirstValue(SessionAuthenticationHandler.SessionIdClaim)!)))
            .RequireAuthorization();
}
