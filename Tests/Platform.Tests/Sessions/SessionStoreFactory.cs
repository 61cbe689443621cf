using Microsoft.Extensions.Options;
using Platform.Sessions;
using StackExchange.Redis;

namespace Platform.Tests.Sessions;

internal static class SessionStoreFactory
{

    public static SessionStore Create(IConnectionMultiplexer redis, SessionStoreOptions? options = null) =>
        new(redis, Options.Create(options ?? new SessionStoreOptions()), new SessionTelemetry(TestMeters.Factory));

    /// <summary>A user no other test uses, so tests can share one server.</summary>
    public static SessionUser NewUser(string tier = "user") =>
        new(Random.Shared.NextInt64(1, long.MaxValue).ToString(), "ada@example.com", "Ada", ["user"], tier);
}
