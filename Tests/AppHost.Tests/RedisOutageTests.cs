using System.Diagnostics;
using System.Net;

namespace AppHost.Tests;

[Collection(OutageCollection.Name)]
public sealed class RedisOutageTests(DistributedAppFixture system)
{
    private static readonly TimeSpan UnhealthyWithin = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan HealthyAgainWithin = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task ServicesTurnUnhealthyWhenRedisStopsAndHealthyWhenItReturns()
    {
        await system.ExecuteCommandAsync("redis", KnownResourceCommands.StopCommand);

        foreach (var service in DistributedAppFixture.Services)
        {
            var (turned, last) = await TimeUntilHealthIsAsync(service, HttpStatusCode.ServiceUnavailable, UnhealthyWithin);
            Assert.True(turned < UnhealthyWithin, $"{service} still reported healthy {UnhealthyWithin} after Redis stopped: {last}");
        }

        using (var gateway = system.App.CreateHttpClient("api"))
        {
            var clock = Stopwatch.StartNew();
            using var response = await gateway.GetAsync("/auth/about");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"a request during the outage took {clock.Elapsed}");
        }

        await system.ExecuteCommandAsync("redis", KnownResourceCommands.StartCommand);

        foreach (var service in DistributedAppFixture.Services)
        {
            var (turned, last) = await TimeUntilHealthIsAsync(service, HttpStatusCode.OK, HealthyAgainWithin);
            Assert.True(turned < HealthyAgainWithin, $"{service} did not report healthy within {HealthyAgainWithin} of Redis returning: {last}");
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
