using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;

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
