using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Platform.Sessions;

/// <summary>
/// Service-to-service calls: a caller presents a key in <see cref="HeaderName"/>; the host knows each caller's key
/// by name in the <c>ServiceKeys</c> section (<c>ServiceKeys:notifier</c>), set by the AppHost from a generated
/// secret parameter. Such a caller is a service, not a user: it has no user id, no tier, and the gateway's limiter
/// does not charge it to anyone. Endpoints opt in with <see cref="RequireServiceKey{TBuilder}"/>.
/// </summary>
public static class ServiceKeyAuthentication
{
    public const string SchemeName = "service-key";
    public const string HeaderName = "X-Service-Key";
    public const string SectionName = "ServiceKeys";
    /// <summary>The role every authenticated service carries; its name is the principal's name.</summary>
    public const string Role = "service";

    public static TBuilder AddServiceKeyAuthentication<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOptions<ServiceKeyOptions>().Configure(options =>
        {
            foreach (var key in builder.Configuration.GetSection(SectionName).GetChildren())
            {
                if (!string.IsNullOrEmpty(key.Value))
                {
                    options.Keys[key.Key] = key.Value;
                }
            }
        });
        builder.Services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, ServiceKeyAuthenticationHandler>(SchemeName, null);
        builder.Services.AddAuthorization();
        return builder;
    }

    /// <summary>Only a caller with a service key (any of <c>ServiceKeys</c>, or the one named) may call these endpoints; others get 401.</summary>
    public static TBuilder RequireServiceKey<TBuilder>(this TBuilder endpoints, string? service = null) where TBuilder : IEndpointConventionBuilder =>
        endpoints.RequireAuthorization(policy =>
        {
            policy.AddAuthenticationSchemes(SchemeName).RequireRole(Role);
            if (service is not null)
            {
                policy.RequireUserName(service);
            }
        });
}

/// <summary>Keys by service name (configuration section <c>ServiceKeys</c>). No keys: no service is let in.</summary>
public sealed class ServiceKeyOptions
{
    public Dictionary<string, string> Keys { get; } = new(StringComparer.Ordinal);
}
