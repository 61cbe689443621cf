using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit.Abstractions;
using static AppHost.Tests.GatewayClient;

namespace AppHost.Tests;

[Collection(PersistentRedisCollection.Name)]
public sealed class JobDurabilityTests(PersistentRedisFixture system)
{
    private const int Jobs = 200;

    [SkippableFact]
    public async Task EveryJobAcceptedBeforeARedisRestartIsRunOnceAfterIt()
    {
        Skip.If(system.Unavailable is not null, system.Unavailable);
        using var gateway = system.CreateGatewayClient();
        var admin = await gateway.LoginAsync(system.AdminEmail, system.AdminPassword);

        // Due in 10 s: all of them are still waiting in Redis when it stops.
        var accepted = new List<string>();
        for (var i = 0; i < Jobs; i++)
        {
            using var response = await DeploymentTests.PostAsync(gateway, "/api/admin/queues/email/jobs", admin.Token, new
            {
                type = "durability",
                payload = new { to = "ops@example.com", subject = $"job {i}", body = "Accepted before a Redis restart." },
                delaySeconds = 10,
            });
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            accepted.Add((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("jobId").GetString()!);
        }

        await system.ExecuteCommandAsync("redis", KnownResourceCommands.StopCommand);
        await system.ExecuteCommandAsync("redis", KnownResourceCommands.StartCommand);
        using (var healthy = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            foreach (var resource in DistributedAppFixture.Services.Prepend("redis"))
            {
                await system.WaitHealthyAsync(resource, healthy.Token);
            }
        }

        // The admin's session was in Redis too: it survived. Every accepted job completes, each exactly once.
        var waited = Stopwatch.StartNew();
        var pending = accepted.ToHashSet();
        while (pending.Count > 0)
        {
            foreach (var id in pending.ToList())
            {
                using var response = await gateway.GetAsync($"/api/jobs/{id}", admin.Token);
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    break; // a service's connection is still coming back (health is polled, so it can lag): ask again
                }
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET /api/jobs/{id} after the restart: {(int)response.StatusCode}");
                var job = await response.Content.ReadFromJsonAsync<JsonElement>();
                if (job.GetProperty("state").GetString() == "completed")
                {
                    Assert.Equal(1, job.GetProperty("attempts").GetInt32());
                    pending.Remove(id);
                }
            }
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(90), $"{pending.Count} of {Jobs} jobs not completed 90 s after the restart");
            await Task.Delay(500);
        }
        Assert.Equal(Jobs, Directory.GetFiles(system.MailDirectory, "*.eml").Length);
    }
}
