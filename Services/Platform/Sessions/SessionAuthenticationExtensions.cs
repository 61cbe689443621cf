using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Platform.Sessions;

public static class SessionAuthenticationExtensions
{
    /// <summary>
    /// The session store, the permission and project-member caches and the "session" authentication scheme (default scheme), with
    /// options from the <c>Sessions</c> section. Needs <c>AddPlatformRedis()</c>. One call in auth, api and notifier.
    /// </summary>
    public static TBuilder AddSessionAuthentication<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOptions<SessionStoreOptions>()
            .Bind(builder.Configuration.GetSection(SessionStoreOptions.SectionName))
            .Validate(o => o.IdleTimeout > TimeSpan.Zero && o.AbsoluteTimeout > TimeSpan.Zero && o.TouchInterval >= TimeSpan.Zero,
                "Sessions: IdleTimeout and AbsoluteTimeout must be positive, TouchInterval not negative.")
            .ValidateOnStart();
        builder.Services.AddSingleton<SessionTelemetry>();
        builder.Services.AddSingleton<SessionStore>();
        builder.Services.AddSingleton<PermissionCache>();
        builder.Services.AddSingleton<ProjectMemberCache>();

        builder.Services.AddAuthentication(SessionAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, SessionAuthenticationHandler>(SessionAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorization();
        return builder;
    }
}
