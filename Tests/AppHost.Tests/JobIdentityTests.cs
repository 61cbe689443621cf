using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using static AppHost.Tests.GatewayClient;

namespace AppHost.Tests;

/// <summary>Job ids across a Redis restart without persistence: SQLite keeps deployment rows naming jobs, Redis forgets the jobs.</summary>
[Collection(OutageCollection.Name)]
public sealed class JobIdentityTests(DistributedAppFixture system)
{
    [Fact]
    public async Task AfterRedisLosesItsDataAMemberOfOneProjectGets404ForAnotherProjectsNewJob()
    {
        using var gateway = system.CreateGatewayClient();
        var (aliceEmail, bobEmail) = (NewEmail(), NewEmail());
        await gateway.RegisterAsync(aliceEmail);
        await gateway.RegisterAsync(bobEmail);
        var alice = await gateway.LoginAsync(aliceEmail);
        var mine = await gateway.CreateProjectAsync(alice.Token, "alices");
        var old = await DeployAsync(gateway, alice.Token, mine.Id);
        await DeploymentTests.WaitForJobAsync(gateway, old, alice.Token, "completed");

        await system.ExecuteCommandAsync("redis", KnownResourceCommands.StopCommand);
        await system.ExecuteCommandAsync("redis", KnownResourceCommands.StartCommand);
        alice = await SignInAgainAsync(gateway, aliceEmail); // sessions were in Redis too
        var bob = await SignInAgainAsync(gateway, bobEmail);
        await UntilApiIsBackAsync(gateway, bob.Token); // auth reconnected first; api's own connection may still be on its way
        var theirs = await gateway.CreateProjectAsync(bob.Token, "bobs");
        var recent = await DeployAsync(gateway, bob.Token, theirs.Id);

        Assert.NotEqual(old, recent);
        using var other = await gateway.GetAsync($"/api/jobs/{recent}", alice.Token);
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        // Her old deployment's job is gone with Redis's data: its id names nothing, certainly not Bob's job.
        using var gone = await gateway.GetAsync($"/api/jobs/{old}", alice.Token);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        await DeploymentTests.WaitForJobAsync(gateway, recent, bob.Token, "completed");
    }

    private static async Task<string> DeployAsync(HttpClient gateway, string token, string projectId)
    {
        using var response = await DeploymentTests.PostAsync(gateway, $"/api/projects/{projectId}/deployments", token, new { branch = "main", environment = "staging" });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<DeploymentTests.Accepted>())!.JobId;
    }

    private static async Task UntilApiIsBackAsync(HttpClient gateway, string token)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            using var response = await gateway.GetAsync("/api/whoami", token);
            if (response.IsSuccessStatusCode)
            {
                return;
            }
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(60), $"api still answering {(int)response.StatusCode} a minute after Redis returned");
            await Task.Delay(250);
        }
    }

    private static async Task<Login> SignInAgainAsync(HttpClient gateway, string email)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            using var response = await gateway.PostAsJsonAsync("/auth/login", new { email, password = Password });
            if (response.IsSuccessStatusCode)
            {
                return (await response.Content.ReadFromJsonAsync<Login>())!;
            }
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(60), $"sign-in still failing a minute after Redis returned: {(int)response.StatusCode}");
            await Task.Delay(250);
        }
    }
}
