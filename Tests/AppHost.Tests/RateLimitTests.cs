using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using StackExchange.Redis;
using static AppHost.Tests.GatewayClient;

namespace AppHost.Tests;

/// <summary>The gateway's limits, with two api replicas sharing them through Redis.</summary>
[Collection(RateLimitCollection.Name)]
public sealed class RateLimitTests(RateLimitFixture system)
{
    private const int UserLimit = 100;

    [Fact]
    public async Task TwoHundredConcurrentRequestsOfOneUserOverTwoReplicasAdmitExactlyTheLimit()
    {
        var token = await SignedInUserAsync();
        using var gateway = system.CreateGatewayClient();

        var responses = await Task.WhenAll(Enumerable.Range(0, 200).Select(async _ =>
        {
            using var response = await gateway.GetAsync("/api/whoami", token);
            return (response.StatusCode, RetryAfter: response.Headers.RetryAfter?.Delta, response.Content.Headers.ContentType?.MediaType);
        }));

        Assert.Equal(UserLimit, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        var rejected = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.Equal(200 - UserLimit, rejected.Count);
        Assert.All(rejected, r =>
        {
            Assert.Equal("application/problem+json", r.MediaType);
            Assert.InRange(r.RetryAfter!.Value, TimeSpan.FromSeconds(1), RateLimitFixture.Window);
        });
    }

    [Fact]
    public async Task EveryLimitedResponseCarriesTheLimitHeadersAndOneUsersExhaustionLeavesAnotherAlone()
    {
        var exhausted = await SignedInUserAsync();
        var other = await SignedInUserAsync();
        using var gateway = system.CreateGatewayClient();
        await Task.WhenAll(Enumerable.Range(0, UserLimit).Select(_ => gateway.GetAsync("/api/whoami", exhausted)));
        using (var refused = await gateway.GetAsync("/api/whoami", exhausted))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        }

        using var response = await gateway.GetAsync("/api/whoami", other);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("100", Header(response, "X-RateLimit-Limit"));
        Assert.Equal("99", Header(response, "X-RateLimit-Remaining"));
        Assert.InRange(long.Parse(Header(response, "X-RateLimit-Reset")), 1, (long)RateLimitFixture.Window.TotalSeconds);
        Assert.Equal($"\"tier-user\";q=100;w={(long)RateLimitFixture.Window.TotalSeconds}", Header(response, "RateLimit-Policy"));
        Assert.StartsWith("\"tier-user\";r=99;t=", Header(response, "RateLimit"));
    }

    [Fact]
    public async Task ATierChangeTakesEffectOnTheNextRequest()
    {
        var (userId, token) = await SignedInUserWithIdAsync();
        using var gateway = system.CreateGatewayClient();
        await Task.WhenAll(Enumerable.Range(0, UserLimit).Select(_ => gateway.GetAsync("/api/whoami", token)));
        using (var refused = await gateway.GetAsync("/api/whoami", token))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        }

        using var auth = system.CreateAuthClient();
        var admin = await auth.LoginAsync(system.AdminEmail, system.AdminPassword);
        Assert.Equal(HttpStatusCode.OK, await auth.SendAsync(HttpMethod.Put, $"/auth/users/{userId}/tier", admin.Token, new { tier = "premium" }));

        using var next = await gateway.GetAsync("/api/whoami", token);
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal("1000", Header(next, "X-RateLimit-Limit"));
    }

    /// <summary>
    /// All anonymous traffic of this suite is here, because it shares one partition: the client address.
    /// </summary>
    [Fact]
    public async Task AnonymousCallersShareALimitPerAddressThatSlidesAndSignInsAreLimitedPerEmail()
    {
        using var gateway = system.CreateGatewayClient();
        var email = NewEmail();
        using (var auth = system.CreateAuthClient())
        {
            await auth.RegisterAsync(email);
        }

        // Sign-in attempts per email, right or wrong: the right password after three wrong ones is refused too.
        for (var i = 0; i < RateLimitFixture.SignInAttemptsPerEmail; i++)
        {
            using var wrong = await gateway.PostAsJsonAsync("/auth/login", new { email, password = "not the password" });
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }
        using (var right = await gateway.PostAsJsonAsync("/auth/login", new { email, password = Password }))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, right.StatusCode);
        }

        // The anonymous limit (10) is per connection address: a forged X-Forwarded-For changes nothing.
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 9; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/about");
            request.Headers.Add("X-Forwarded-For", $"203.0.113.{i}");
            using var response = await gateway.SendAsync(request);
            statuses.Add(response.StatusCode);
        }
        Assert.Equal(Enumerable.Repeat(HttpStatusCode.OK, 7).Concat(Enumerable.Repeat(HttpStatusCode.TooManyRequests, 2)), statuses);

        // The window slides: refused until Retry-After has passed, admitted right after.
        TimeSpan retryAfter;
        var clock = Stopwatch.StartNew();
        using (var refused = await gateway.GetAsync("/api/about"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            retryAfter = refused.Headers.RetryAfter!.Delta!.Value;
        }
        await Task.Delay(retryAfter - TimeSpan.FromSeconds(2) - clock.Elapsed);
        using (var early = await gateway.GetAsync("/api/about"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, early.StatusCode);
        }
        await Task.Delay(retryAfter - clock.Elapsed);
        using (var onTime = await gateway.GetAsync("/api/about"))
        {
            Assert.Equal(HttpStatusCode.OK, onTime.StatusCode);
        }
    }

    [Fact]
    public async Task EveryLimiterKeyInRedisHasATimeToLive()
    {
        var token = await SignedInUserAsync();
        using var gateway = system.CreateGatewayClient();
        using (await gateway.GetAsync("/api/whoami", token))
        {
        }

        await using var redis = await ConnectionMultiplexer.ConnectAsync((await system.App.GetConnectionStringAsync("redis"))!);
        var db = redis.GetDatabase();
        var keys = new List<RedisKey>();
        await foreach (var key in redis.GetServers().Single().KeysAsync(pattern: "api:ratelimit:*"))
        {
            keys.Add(key);
        }

        Assert.NotEmpty(keys);
        foreach (var key in keys)
        {
            var ttl = await db.KeyTimeToLiveAsync(key);
            Assert.True(ttl > TimeSpan.Zero, $"{key} has no TTL");
        }
    }

    private async Task<string> SignedInUserAsync() => (await SignedInUserWithIdAsync()).Token;

    private async Task<(string UserId, string Token)> SignedInUserWithIdAsync()
    {
        using var auth = system.CreateAuthClient();
        var email = NewEmail();
        var user = await auth.RegisterAsync(email);
        return (user.Id, (await auth.LoginAsync(email)).Token);
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.Single() : throw new Xunit.Sdk.XunitException($"no {name} header");
}
