using System.Net;
using static AppHost.Tests.GatewayClient;

namespace AppHost.Tests;

/// <summary>The output cache with two api replicas in front of one SQLite store (the rate-limit system runs two).</summary>
[Collection(RateLimitCollection.Name)]
public sealed class OutputCacheReplicaTests(RateLimitFixture system)
{
    private const int RequestsPerReplica = 20;

    /// <summary>
    /// X-Cache says MISS exactly when the endpoint ran (and read the store); requests that waited for a concurrent
    /// miss on their replica are answered from its result and say HIT. So each replica's MISS count is its reads.
    /// The requests leave together from open connections, so they arrive while the first runs: a request whose
    /// lookup were still in flight as the first finished would run again (see the Platform.Tests stampede test).
    /// </summary>
    [Fact]
    public async Task ConcurrentRequestsForOneColdKeyOnTwoReplicasReadTheStoreAtMostOncePerReplica()
    {
        var replicas = await system.CreateReplicaClientsAsync();
        using var gateway = system.CreateGatewayClient();
        var user = await SignedInAsync(gateway);
        var warmer = await SignedInAsync(gateway);
        var project = await gateway.CreateProjectAsync(user.Token, "stampede");
        // Open the connections first (as another user, whose entries are separate), so that the measured
        // requests leave together rather than one connection handshake apart.
        await Task.WhenAll(replicas.SelectMany(replica => Enumerable.Range(0, RequestsPerReplica)
            .Select(async _ => (await replica.GetAsync("/api/whoami", warmer.Token)).Dispose())));

        using var start = new ManualResetEventSlim();
        var reads = replicas.Select(replica => Enumerable.Range(0, RequestsPerReplica).Select(_ => Task.Run(async () =>
        {
            start.Wait();
            return await OutputCacheTests.ReadAsync(replica, $"/api/projects/{project.Id}", user.Token);
        })).ToList()).ToList();
        start.Set();
        var answers = await Task.WhenAll(reads.Select(Task.WhenAll));

        foreach (var replica in answers)
        {
            Assert.All(replica, a => Assert.Equal(HttpStatusCode.OK, a.Status));
            Assert.Equal(RequestsPerReplica, replica.Count(a => a.Cache is "MISS" or "HIT"));
            Assert.InRange(replica.Count(a => a.Cache == "MISS"), 0, 1);
        }
        Assert.InRange(answers.Sum(replica => replica.Count(a => a.Cache == "MISS")), 1, 2);
        Assert.Single(answers.SelectMany(replica => replica).Select(a => a.Body).Distinct());
        foreach (var replica in replicas)
        {
            replica.Dispose();
        }
    }

    [Fact]
    public async Task AnEntryStoredByOneReplicaIsServedByTheOther()
    {
        var replicas = await system.CreateReplicaClientsAsync();
        using var gateway = system.CreateGatewayClient();
        var user = await SignedInAsync(gateway);
        var project = await gateway.CreateProjectAsync(user.Token, "shared entry");

        var stored = await OutputCacheTests.ReadAsync(replicas[0], $"/api/projects/{project.Id}", user.Token);
        Assert.Equal((HttpStatusCode.OK, "MISS"), (stored.Status, stored.Cache));
        // The middleware stores the entry after the response has gone out: wait until the first replica itself
        // answers from Redis (the only store: no in-process layer), then the other must too.
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while ((await OutputCacheTests.ReadAsync(replicas[0], $"/api/projects/{project.Id}", user.Token)).Cache != "HIT")
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(5), "the first replica never stored its entry");
            await Task.Delay(50);
        }
        var servedByTheOther = await OutputCacheTests.ReadAsync(replicas[1], $"/api/projects/{project.Id}", user.Token);

        Assert.Equal((HttpStatusCode.OK, "HIT", stored.Body), (servedByTheOther.Status, servedByTheOther.Cache, servedByTheOther.Body));
        foreach (var replica in replicas)
        {
            replica.Dispose();
        }
    }
}
