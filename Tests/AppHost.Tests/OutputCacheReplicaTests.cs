using System.Net;
using static AppHost.Tests.GatewayClient;

namespace AppHost.Tests;

/// <summary>The output cache with two api replicas in front of one SQLite store (the rate-limit system runs two).</summary>
[Collection(RateLimitCollection.Name)]
public sealed class OutputCacheReplicaTests(RateLimitFixture system)
{
    private const int Requests = 40;

    /// <summary>
    /// X-Cache says MISS exactly when the endpoint ran (and read the store); requests that waited for a concurrent
    /// miss on their replica are answered from its result and say HIT. So the MISS count is the number of reads.
    /// </summary>
    [Fact]
    public async Task ConcurrentRequestsForOneColdKeyOnTwoReplicasReadTheStoreAtMostOncePerReplica()
    {
        using var gateway = system.CreateGatewayClient();
        var user = await OutputCacheTests.SignedInAsync(gateway);
        var warmer = await OutputCacheTests.SignedInAsync(gateway);
        var project = await gateway.CreateProjectAsync(user.Token, "stampede");
        // Open the connections first (as another user, whose entries are separate), so that the measured
        // requests leave together rather than one connection handshake apart.
        await Task.WhenAll(Enumerable.Range(0, Requests).Select(async _ => (await gateway.GetAsync("/api/whoami", warmer.Token)).Dispose()));

        using var start = new ManualResetEventSlim();
        var reads = Enumerable.Range(0, Requests).Select(_ => Task.Run(async () =>
        {
            start.Wait();
            return await OutputCacheTests.ReadAsync(gateway, $"/api/projects/{project.Id}", user.Token);
        })).ToList();
        start.Set();
        var answers = await Task.WhenAll(reads);

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));
        Assert.Single(answers.Select(a => a.Body).Distinct());
        Assert.InRange(answers.Count(a => a.Cache == "MISS"), 1, 2);
        Assert.Equal(Requests, answers.Count(a => a.Cache is "MISS" or "HIT"));
    }

    [Fact]
    public async Task AnEntryStoredByOneReplicaIsServedByTheOther()
    {
        using var gateway = system.CreateGatewayClient();
        var user = await OutputCacheTests.SignedInAsync(gateway);
        var project = await gateway.CreateProjectAsync(user.Token, "shared entry");

        var first = await OutputCacheTests.ReadAsync(gateway, $"/api/projects/{project.Id}", user.Token);
        // The gateway's endpoint balances over both replicas: of ten more reads, some reach the one that did not store it.
        var rest = new List<OutputCacheTests.Read>();
        for (var i = 0; i < 10; i++)
        {
            rest.Add(await OutputCacheTests.ReadAsync(gateway, $"/api/projects/{project.Id}", user.Token));
        }

        Assert.Equal("MISS", first.Cache);
        Assert.All(rest, r => Assert.Equal(("HIT", first.Body), (r.Cache, r.Body)));
    }
}
