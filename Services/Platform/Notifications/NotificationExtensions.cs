using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Platform.Notifications;

public static class NotificationExtensions
{
    /// <summary>
    /// <see cref="NotificationPublisher"/> for any service that publishes events (api, worker). Needs <c>AddPlatformRedis()</c>.
    /// </summary>
    public static TBuilder AddNotificationPublisher<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddMetrics();
        builder.Services.TryAddSingleton<NotificationTelemetry>();
        builder.Services.TryAddSingleton<NotificationPublisher>();
        return builder;
    }

    /// <summary>
    /// What the notifier serves: the process's one Redis subscription (<see cref="NotificationHub"/>, started with the
    /// host), the history, the visibility rules, the per-user stream slots and the publisher for alerts, with options from the <c>Notifications</c>
    /// section. Needs <c>AddPlatformRedis()</c>, <c>AddSessionAuthentication()</c> and an <see cref="IProjectMembership"/>.
    /// </summary>
    public static TBuilder AddNotificationStream<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.AddNotificationPublisher();
        builder.Services.AddOptions<NotificationStreamOptions>()
            .Bind(builder.Configuration.GetSection(NotificationStreamOptions.SectionName))
            .Validate(o => o.HeartbeatInterval > TimeSpan.Zero && o.SessionRevalidationInterval > TimeSpan.Zero
                && o.ClientBufferSize > 0 && o.SubscriptionWait >= TimeSpan.Zero && o.MaxStreamsPerUser > 0,
                "Notifications: HeartbeatInterval, SessionRevalidationInterval, ClientBufferSize and MaxStreamsPerUser must be positive.")
            .ValidateOnStart();
        builder.Services.TryAddSingleton<NotificationHistory>();
        builder.Services.TryAddSingleton<NotificationAccess>();
        builder.Services.TryAddSingleton<StreamSlots>();
        builder.Services.TryAddSingleton<NotificationHub>();
        builder.Services.AddHostedService(services => services.GetRequiredService<NotificationHub>());
        return builder;
    }
}
