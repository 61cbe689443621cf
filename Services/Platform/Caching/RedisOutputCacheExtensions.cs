using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.AspNetCore.OutputCaching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Platform.Caching;

public static class RedisOutputCacheExtensions
{
    /// <summary>
    /// ASP.NET Core output caching stored in Redis: what <c>Aspire.StackExchange.Redis.OutputCaching</c>'s
    /// <c>AddRedisOutputCache</c> does, on the multiplexer that <c>AddPlatformRedis()</c> registered (one set of
    /// connections per process, not a second one), plus fail-open and metrics (<see cref="FailOpenOutputCacheStore"/>).
    /// Keys are <c>{service}:outputcache:__MSOCV_...</c> (entries) and <c>...__MSOCT_{tag}</c> (a sorted set per
    /// tag, scored by expiry, which eviction walks with ZSCAN: the store never sends KEYS), and <c>...evictions</c>, the
    /// sequence that keeps an answer loaded across an eviction from being stored. Needs AddPlatformRedis.
    /// </summary>
    public static TBuilder AddRedisOutputCache<TBuilder>(this TBuilder builder, Action<OutputCacheOptions>? configure = null)
        where TBuilder : IHostApplicationBuilder
    {
        var prefix = $"{builder.Environment.ApplicationName.ToLowerInvariant()}:outputcache:";
        builder.Services.AddOutputCache(options => configure?.Invoke(options));
        // The package's registration, kept as it is; its options then point at the shared multiplexer.
        builder.Services.AddStackExchangeRedisOutputCache(options => options.InstanceName = prefix);
        builder.Services.AddOptions<RedisOutputCacheOptions>().Configure<IServiceProvider>((options, services) =>
            options.ConnectionMultiplexerFactory = () => Task.FromResult(services.GetRequiredService<IConnectionMultiplexer>()));

        // Its store type is internal: take it from the registration it just made, and wrap it.
        var redisStore = builder.Services.Last(d => d.ServiceType == typeof(IOutputCacheStore)).ImplementationType
            ?? throw new InvalidOperationException("AddStackExchangeRedisOutputCache no longer registers its store by type; update AddRedisOutputCache.");
        builder.Services.RemoveAll<IOutputCacheStore>();
        builder.Services.TryAddSingleton<OutputCacheTelemetry>();
        // The store remembers, per request, the eviction sequence its miss read (see FailOpenOutputCacheStore).
        builder.Services.AddHttpContextAccessor();
        // The inner store is not disposed with the app: disposing it closes the multiplexer it was given, which
        // belongs to AddRedisClient (the container disposes that one itself).
        builder.Services.AddSingleton<IOutputCacheStore>(services => new FailOpenOutputCacheStore(
            (IOutputCacheStore)ActivatorUtilities.CreateInstance(services, redisStore),
            services.GetRequiredService<IConnectionMultiplexer>(),
            prefix,
            services.GetRequiredService<IHttpContextAccessor>(),
            services.GetRequiredService<OutputCacheTelemetry>(),
            services.GetRequiredService<ILogger<FailOpenOutputCacheStore>>()));
        return builder;
    }
}
