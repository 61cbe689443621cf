using System.Net;
using System.Security.Claims;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Platform.RateLimiting;
using Platform.Sessions;
using Platform.Tests.Redis;
using StackExchange.Redis;

namespace Platform.Tests.RateLimiting;

[Collection(RedisCollection.Name)]
public sealed class RateLimitStoreOnRedisServer(RedisServerFixture redis) : RateLimitStoreTests(redis);

[Collection(GarnetCollection.Name)]
public sealed class RateLimitStoreOnGarnet(GarnetServerFixture garnet) : RateLimitStoreTests(garnet);

[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class RateLimitStoreOnCluster(RedisClusterFixture cluster) : RateLimitStoreTests(cluster);

public abstract class RateLimitStoreTests(RedisServerFixture redis)
{
    private readonly RedisRateLimitStore _store = new(redis.Connection);
    private readonly string _partition = $"test:{Guid.NewGuid():N}";

    [Theory]
    [InlineData(RateLimitAlgorithm.SlidingWindow)]
    [InlineData(RateLimitAlgorithm.FixedWindow)]
    public async Task ThreeHundredConcurrentDecisionsOverFourConnectionsAdmitExactlyTheLimit(RateLimitAlgorithm algorithm)
    {
        var rule = new RateLimitRule("burst", 100, TimeSpan.FromMinutes(1), algorithm);
        await using var connections = await redis.ConnectManyAsync(4);
        var stores = connections.Select(c => new RedisRateLimitStore(c)).ToArray();
        var decisions = await Task.WhenAll(Enumerable.Range(0, 300).Select(i => Task.Run(() => stores[i % 4].DecideAsync(_partition, rule))));

        Assert.Equal(100, decisions.Count(d => d.Admitted));
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (long)i).Order(), decisions.Where(d => d.Admitted).Select(d => d.Remaining).Order());
        Assert.All(decisions.Where(d => !d.Admitted), d => Assert.InRange(d.RetryAfter, TimeSpan.FromSeconds(50), TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public async Task RejectedRequestsConsumeNothingAndTheWindowSlides()
    {
        var rule = new RateLimitRule("slide", 5, TimeSpan.FromSeconds(1.5));
        for (var i = 0; i < 5; i++)
        {
            Assert.True((await _store.DecideAsync(_partition, rule)).Admitted);
        }
        RateLimitDecision refused = null!;
        for (var i = 0; i < 20; i++)
        {
            refused = await _store.DecideAsync(_partition, rule);
            Assert.False(refused.Admitted);
        }

        Assert.InRange(refused.RetryAfter, TimeSpan.FromMilliseconds(1), rule.Window);
        await Task.Delay(rule.Window + TimeSpan.FromMilliseconds(100));

        // A window after the last admission all five slots are free again: the twenty refusals were not counted.
        for (var i = 0; i < 5; i++)
        {
            Assert.True((await _store.DecideAsync(_partition, rule)).Admitted);
        }
        Assert.False((await _store.DecideAsync(_partition, rule)).Admitted);
    }

    [Theory]
    [InlineData(RateLimitAlgorithm.SlidingWindow)]
    [InlineData(RateLimitAlgorithm.FixedWindow)]
    public async Task EveryKeyHasATimeToLiveNoLongerThanItsWindow(RateLimitAlgorithm algorithm)
    {
        var rule = new RateLimitRule("ttl", 3, TimeSpan.FromSeconds(30), algorithm);
        for (var i = 0; i < 5; i++)
        {
            await _store.DecideAsync(_partition, rule);
        }

        var ttl = await redis.Connection.GetDatabase().KeyTimeToLiveAsync(RedisRateLimitStore.Key(_partition, rule));
        Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(25), TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task ADecisionIsOneRoundTrip()
    {
        await using var counted = await redis.ConnectAsync();
        var store = new RedisRateLimitStore(counted);
        var rule = new RateLimitRule("cost", 10, TimeSpan.FromMinutes(1));
        await store.DecideAsync(_partition, rule); // loads the script

        var before = counted.OperationCount;
        await store.DecideAsync(_partition, rule);
        Assert.Equal(1, counted.OperationCount - before);
    }
}

/// <summary>The gateway limiter when Redis is gone: open by default, closed on request, never an exception.</summary>
public sealed class GatewayRateLimiterOutageTests
{
    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public async Task WithRedisDownRequestsPassOrAreRefusedAsConfigured(bool failClosed, bool expectAdmitted)
    {
        var server = await RedisServerProcess.StartNewAsync();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(
            $"{server.ConnectionString},abortConnect=false", options => options.BacklogPolicy = BacklogPolicy.FailFast);
        await server.DisposeAsync();

        var options = new OptionsMonitorStub(new RateLimitingOptions { FailClosed = failClosed });
        var limiter = new GatewayRateLimiter(new RedisRateLimitStore(connection), options, NullLogger<GatewayRateLimiter>.Instance, TestMeters.Factory);
        var context = new DefaultHttpContext();
        context.Request.Path = "/api/projects";
        context.Connection.RemoteIpAddress = IPAddress.Loopback;
        context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, "7"), new Claim(SessionAuthenticationHandler.TierClaim, "user")], "test"));

        var started = DateTime.UtcNow;
        using var lease = await limiter.AcquireAsync(context);

        Assert.Equal(expectAdmitted, lease.IsAcquired);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(1), "the decision waited for Redis");
        Assert.Equal(failClosed, lease.TryGetMetadata(MetadataName.ReasonPhrase, out var reason) && reason == GatewayRateLimiter.UnavailableReason);
    }

    private sealed class OptionsMonitorStub(RateLimitingOptions value) : IOptionsMonitor<RateLimitingOptions>
    {
        public RateLimitingOptions CurrentValue => value;
        public RateLimitingOptions Get(string? name) => value;
        public IDisposable? OnChange(Action<RateLimitingOptions, string?> listener) => null;
    }
}
