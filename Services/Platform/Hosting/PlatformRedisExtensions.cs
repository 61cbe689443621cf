using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace Platform.Hosting;

public static class PlatformRedisExtensions
{
    /// <summary>
    /// <c>builder.AddRedisClient("redis")</c> as every service needs it: commands fail at once while the
    /// connection is down (rather than queueing for the 5 s command timeout), and such failures answer 503.
    /// </summary>
    public static TBuilder AddPlatformRedis<TBuilder>(this TBuilder builder, string connectionName = "redis")
        where TBuilder : IHostApplicationBuilder
    {
        builder.AddRedisClient(connectionName, configureOptions: options => options.BacklogPolicy = BacklogPolicy.FailFast);
        builder.Services.AddExceptionHandler<RedisOutage>();
        return builder;
    }
}
