using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Xunit.Abstractions;
using StackExchange.Redis;

namespace AppHost.Tests;

[Collection(OutageCollection.Name)]
public sealed class RedisOutageTests(DistributedAppFixture system)
{
    private static readonly TimeSpan UnhealthyWithin = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan HealthyAgainWithin = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task ServicesTurnUnhealthyWhenRedisStopsAndHealthyWhenItReturns()
    {
        using var gateway = system.CreateGatewayClient();
        var email = GatewayClient.NewEmail();
        await gateway.RegisterAsync(email);
        var signedIn = await gateway.LoginAsync(email);

        await system.ExecuteCommandAsync("redis", KnownResourceCommands.StopCommand);

        foreach (var service in DistributedAppFixture.Services)
        {
            var (turned, last) = await TimeUntilHealthIsAsync(service, HttpStatusCode.ServiceUnavailable, UnhealthyWithin);
            Assert.True(turned < UnhealthyWithin, $"{service} still reported healthy {UnhealthyWithin} after Redis stopped: {last}");
        }

        // Whatever needs Redis answers 503 problem+json at once: never a 500, a hang, or a 401 for a good token.
        var duringOutage = new Func<Task<HttpResponseMessage>>[]
        {
            () => gateway.GetAsync("/auth/about"),
            () => gateway.PostAsJsonAsync("/auth/login", new { email, password = GatewayClient.Password }),
            () => gateway.GetAsync("/auth/me", signedIn.Token),
            () => gateway.GetAsync("/api/whoami", signedIn.Token),
            () => gateway.GetAsync("/notifications/whoami", signedIn.Token),
        };
        foreach (var request in duringOutage)
        {
            var clock = Stopwatch.StartNew();
            using var response = await request();
            var problem = await GatewayClient.ProblemAsync(response);
            Assert.Equal((503, "application/problem+json"), (problem.Status, problem.MediaType));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"{response.RequestMessage!.RequestUri} took {clock.Elapsed} during the outage");
        }

        await system.ExecuteCommandAsync("redis", KnownResourceCommands.StartCommand);

        foreach (var service in DistributedAppFixture.Services)
        {
            var (turned, last) = await TimeUntilHealthIsAsync(service, HttpStatusCode.OK, HealthyAgainWithin);
            Assert.True(turned < HealthyAgainWithin, $"{service} did not report healthy within {HealthyAgainWithin} of Redis returning: {last}");
        }
        // Sessions are data in Redis: without persistence a restart forgets them, and the token is simply refused.
        using var afterRestart = await gateway.GetAsync("/auth/me", signedIn.Token);
        Assert.Equal(HttpStatusCode.Unauthorized, afterRestart.StatusCode);
    }

    [SkippableFact]
    public async Task WhileRedisRunsAScriptTooLongEveryServiceAnswers503AndNoneStops()
    {
        await using var admin = await ConnectionMultiplexer.ConnectAsync($"{await system.App.GetConnectionStringAsync("redis")},allowAdmin=true");
        var server = admin.GetServers().Single();
        Skip.If((await server.InfoAsync("server")).SelectMany(g => g).Any(kv => kv.Key.StartsWith("garnet", StringComparison.Ordinal)),
            "Runs on Garnet here, which has no script time limit or SCRIPT KILL: install redis-server (sudo apt-get install redis-server).");
        foreach (var service in DistributedAppFixture.Services)
        {
            Assert.True((await TimeUntilHealthIsAsync(service, HttpStatusCode.OK, HealthyAgainWithin)).Elapsed < HealthyAgainWithin, $"{service} is not healthy");
        }
        using var gateway = system.CreateGatewayClient();
        var email = GatewayClient.NewEmail();
        await gateway.RegisterAsync(email);
        var signedIn = await gateway.LoginAsync(email);

        // A script that never ends: Redis answers BUSY to everyone else until it is killed.
        await server.ConfigSetAsync("busy-reply-threshold", "50");
        await using (var looping = await ConnectionMultiplexer.ConnectAsync($"{await system.App.GetConnectionStringAsync("redis")},syncTimeout=60000,asyncTimeout=60000"))
        {
            await looping.GetDatabase().ScriptEvaluateAsync("while true do end", flags: CommandFlags.FireAndForget);
            try
            {
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
                while (!await IsBusyAsync(admin))
                {
                    Assert.True(DateTime.UtcNow < deadline, "Redis never answered BUSY");
                    await Task.Delay(50);
                }

                foreach (var path in new[] { "/auth/me", "/api/whoami", "/notifications/whoami", "/api/projects" })
                {
                    var clock = Stopwatch.StartNew();
                    using var response = await gateway.GetAsync(path, signedIn.Token);
                    var problem = await GatewayClient.ProblemAsync(response);
                    Assert.Equal((503, "application/problem+json"), (problem.Status, problem.MediaType));
                    Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"{path} took {clock.Elapsed} while Redis was busy");
                }
            }
            finally
            {
                if (await IsBusyAsync(admin))
                {
                    await server.ExecuteAsync("SCRIPT", "KILL");
                }
            }
        }

        using var after = await gateway.GetAsync("/api/whoami", signedIn.Token);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        foreach (var service in DistributedAppFixture.Services)
        {
            using var http = system.App.CreateHttpClient(service);
            using var alive = await http.GetAsync("/alive");
            Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        }
    }

    private static async Task<bool> IsBusyAsync(ConnectionMultiplexer admin)
    {
        try
        {
            await admin.GetDatabase().PingAsync();
            return false;
        }
        catch (RedisServerException e) when (e.Message.StartsWith("BUSY", StringComparison.Ordinal))
        {
            return true;
        }
    }

    /// <summary>
    /// Polls the service's /health until it answers <paramref name="status"/>. Returns how long that took
    /// (<see cref="TimeSpan.MaxValue"/> if it never did) and the last answer seen, for the failure message.
    /// </summary>
    private async Task<(TimeSpan Elapsed, string LastAnswer)> TimeUntilHealthIsAsync(
        string service, HttpStatusCode status, TimeSpan limit)
    {
        using var http = system.App.CreateHttpClient(service);
        http.Timeout = TimeSpan.FromSeconds(5);
        var clock = Stopwatch.StartNew();
        var last = "no answer";
        while (clock.Elapsed < limit)
        {
            try
            {
                using var response = await http.GetAsync("/health");
                if (response.StatusCode == status)
                {
                    return (clock.Elapsed, "");
                }
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            }
            catch (Exception e) when (e is TaskCanceledException or HttpRequestException)
            {
                last = e.Message;
            }
            await Task.Delay(250);
        }
        return (TimeSpan.MaxValue, last);
    }
}
