using System.Net;
using Platform.Tests.Redis;
using StackExchange.Redis;

namespace Platform.Tests.Caching;

[Collection(RedisCollection.Name)]
public sealed class OutputCacheOnRedisServer(RedisServerFixture redis) : OutputCacheTests(redis)
{
    /// <summary>Only here: Garnet keeps no command statistics (the store's code is the same on both).</summary>
    [RedisServerFact("INFO commandstats")]
    public async Task TheStoreNeverSendsKeys()
    {
        var id = Guid.NewGuid().ToString("N");
        await using var admin = await Redis.ConnectAsync(",allowAdmin=true");
        await using var app = await CachedApp.StartAsync(Redis.Connection);
        await app.GetAsync($"/items/{id}");
        await app.GetAsync($"/items/{id}", "bob");
        await app.Store.EvictByTagAsync($"item:{id}", CancellationToken.None);

        var stats = (await admin.GetServers().Single().InfoAsync("commandstats")).SelectMany(g => g).Select(kv => kv.Key).ToList();

        Assert.Contains("cmdstat_zscan", stats);
        Assert.DoesNotContain("cmdstat_keys", stats);
    }

    /// <summary>The race is closed on the miss path only: a hit sends the entry's GET and nothing else.</summary>
    [RedisServerFact("INFO commandstats")]
    public async Task AHitSendsOnlyTheEntrysGetAndAMissAlsoReadsTheEvictionSequenceTwice()
    {
        await using var admin = await Redis.ConnectAsync(",allowAdmin=true");
        var server = admin.GetServers().Single();
        await using var app = await CachedApp.StartAsync(Redis.Connection);
        var id = Guid.NewGuid().ToString("N");

        await server.ConfigResetStatisticsAsync();
        var miss = await app.GetAsync($"/items/{id}");
        var missCommands = await CommandCallsAsync(server);
        await server.ConfigResetStatisticsAsync();
        var hit = await app.GetAsync($"/items/{id}");
        var hitCommands = await CommandCallsAsync(server);

        Assert.Equal(("MISS", "HIT"), (miss.Cache, hit.Cache));
        // The miss: the entry's GET, then the sequence's GET before the endpoint and again after the store.
        Assert.Equal(3, missCommands.GetValueOrDefault("get"));
        Assert.Equal(new Dictionary<string, long> { ["get"] = 1 }, hitCommands);
    }

    /// <summary>Calls per command since the last reset, leaving out what the test sends (INFO, CONFIG) and keep-alives (PING, ECHO).</summary>
    private static async Task<Dictionary<string, long>> CommandCallsAsync(IServer server) =>
        (await server.InfoAsync("commandstats")).SelectMany(g => g)
            .Select(kv => (Command: kv.Key["cmdstat_".Length..], Calls: long.Parse(kv.Value.Split(',')[0]["calls=".Length..])))
            .Where(c => c.Command is not ("info" or "config|resetstat" or "config" or "ping" or "echo"))
            .ToDictionary(c => c.Command, c => c.Calls);
}

[Collection(GarnetCollection.Name)]
public sealed class OutputCacheOnGarnet(GarnetServerFixture garnet) : OutputCacheTests(garnet);

[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class OutputCacheOnCluster(RedisClusterFixture cluster) : OutputCacheTests(cluster);

/// <summary>The Caching building block in a real app over loopback HTTP, on a real server.</summary>
public abstract class OutputCacheTests(RedisServerFixture redis)
{
    private readonly string _id = Guid.NewGuid().ToString("N");

    protected RedisServerFixture Redis { get; } = redis;

    [Fact]
    public async Task EachCallerHasTheirOwnEntryAndASecondReadIsAHitWithTheSameBody()
    {
        await using var app = await CachedApp.StartAsync(Redis.Connection);

        var miss = await app.GetAsync($"/items/{_id}", "alice");
        var hit = await app.GetAsync($"/items/{_id}", "alice");
        var bobs = await app.GetAsync($"/items/{_id}", "bob");

        Assert.Equal((HttpStatusCode.OK, "MISS"), (miss.Status, miss.Cache));
        Assert.Equal((HttpStatusCode.OK, "HIT", miss.Body), (hit.Status, hit.Cache, hit.Body));
        Assert.Equal("MISS", bobs.Cache);
        Assert.Contains("\"caller\":\"bob\"", bobs.Body);
        Assert.Equal(2, app.Runs[_id]);
        Assert.Equal((2, 1), (app.Measured($"outputcache.misses:policy={CachedApp.PerCaller}"), app.Measured($"outputcache.hits:policy={CachedApp.PerCaller}")));
    }

    [Fact]
    public async Task AnAnonymousRequestIsNotCachedByAPerCallerPolicy()
    {
        await using var app = await CachedApp.StartAsync(Redis.Connection);

        var answers = new[] { await app.GetAsync($"/items/{_id}", user: null), await app.GetAsync($"/items/{_id}", user: null) };

        Assert.All(answers, a => Assert.Equal((HttpStatusCode.OK, null), (a.Status, a.Cache)));
        Assert.Equal(2, app.Runs[_id]);
    }

    [Fact]
    public async Task EvictingATagRemovesExactlyTheEntriesTaggedWithItForEveryCaller()
    {
        await using var app = await CachedApp.StartAsync(Redis.Connection);
        var other = Guid.NewGuid().ToString("N");
        foreach (var path in new[] { $"/items/{_id}", $"/items/{other}" })
        {
            await app.GetAsync(path, "alice");
            await app.GetAsync(path, "bob");
        }

        await app.Store.EvictByTagAsync($"item:{_id}", CancellationToken.None);

        Assert.Equal(("MISS", "MISS"), ((await app.GetAsync($"/items/{_id}", "alice")).Cache, (await app.GetAsync($"/items/{_id}", "bob")).Cache));
        Assert.Equal(("HIT", "HIT"), ((await app.GetAsync($"/items/{other}", "alice")).Cache, (await app.GetAsync($"/items/{other}", "bob")).Cache));
        Assert.Equal(1, app.Measured("outputcache.evictions:tag=item"));
    }

    /// <summary>
    /// The race a tag eviction alone cannot close: a miss reads the old value, a write commits and evicts the tag
    /// (nothing is stored yet), then the miss stores the old answer, which would be served for its whole lifetime.
    /// </summary>
    [Fact]
    public async Task AnAnswerLoadedBeforeAWriteAndStoredAfterItsEvictionIsNeverServed()
    {
        await using var app = await CachedApp.StartAsync(Redis.Connection);
        app.Values[_id] = "old";
        var gate = app.GateNextLoad(_id);

        var racing = app.GetAsync($"/gated/{_id}");
        await gate.Loaded.Task.WaitAsync(TimeSpan.FromSeconds(10));
        app.Values[_id] = "new";
        await app.Store.EvictByTagAsync($"item:{_id}", CancellationToken.None);
        gate.Release.SetResult();
        var raced = await racing;
        var next = await app.GetAsync($"/gated/{_id}");
        var after = await app.GetAsync($"/gated/{_id}");

        Assert.Equal((HttpStatusCode.OK, "MISS"), (raced.Status, raced.Cache));
        Assert.Contains("\"value\":\"old\"", raced.Body);
        Assert.Equal((HttpStatusCode.OK, "MISS"), (next.Status, next.Cache));
        Assert.Contains("\"value\":\"new\"", next.Body);
        Assert.Equal(("HIT", next.Body), (after.Cache, after.Body));
        Assert.Equal(2, app.Runs[_id]);
        Assert.Equal(1, app.Measured("outputcache.discarded:reason=evicted"));
    }

    /// <summary>Conservative on purpose: the sequence is global, so an eviction of any tag during a load discards its answer.</summary>
    [Fact]
    public async Task AnAnswerLoadedAcrossAnUnrelatedEvictionIsNotKeptEither()
    {
        await using var app = await CachedApp.StartAsync(Redis.Connection);
        app.Values[_id] = "same";
        var gate = app.GateNextLoad(_id);

        var racing = app.GetAsync($"/gated/{_id}");
        await gate.Loaded.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await app.Store.EvictByTagAsync($"item:{Guid.NewGuid():N}", CancellationToken.None);
        gate.Release.SetResult();
        await racing;

        Assert.Equal(("MISS", "HIT"), ((await app.GetAsync($"/gated/{_id}")).Cache, (await app.GetAsync($"/gated/{_id}")).Cache));
        Assert.Equal(1, app.Measured("outputcache.discarded:reason=evicted"));
    }

    /// <summary>Outside a request there is no miss to compare with: a direct store writes as it is told.</summary>
    [Fact]
    public async Task AStoreOutsideAnyRequestIsKept()
    {
        await using var app = await CachedApp.StartAsync(Redis.Connection);

        await app.Store.SetAsync(_id, [1, 2, 3], ["direct"], TimeSpan.FromMinutes(1), CancellationToken.None);

        Assert.Equal([1, 2, 3], await app.Store.GetAsync(_id, CancellationToken.None));
        Assert.Equal(0, app.Measured("outputcache.discarded:reason=unverified"));
    }

    [Fact]
    public async Task NonOkAnswersAndAnswersThatSetACookieAreNeverStored()
    {
        await using var app = await CachedApp.StartAsync(Redis.Connection);
        var cookie = Guid.NewGuid().ToString("N");

        var missing = new[] { await app.GetAsync($"/missing/{_id}"), await app.GetAsync($"/missing/{_id}") };
        var withCookie = new[] { await app.GetAsync($"/cookie/{cookie}"), await app.GetAsync($"/cookie/{cookie}") };

        Assert.All(missing, a => Assert.Equal((HttpStatusCode.NotFound, null), (a.Status, a.Cache)));
        Assert.All(withCookie, a => Assert.Equal((HttpStatusCode.OK, null), (a.Status, a.Cache)));
        Assert.Equal((2, 2), (app.Runs[_id], app.Runs[cookie]));
    }

    /// <summary>
    /// The middleware's coalescing covers requests that arrive while the first miss is running the endpoint. It is
    /// not strict for a request whose own lookup is still in flight as the first one finishes: with a 1 ms
    /// endpoint, 50 concurrent requests on a loaded machine ran it 2 or 3 times. Stampedes hurt when the read is
    /// slow, which is the case shown here.
    /// </summary>
    [Fact]
    public async Task ConcurrentMissesArrivingWhileTheEndpointRunsRunItOnceInAProcess()
    {
        await using var app = await CachedApp.StartAsync(Redis.Connection);

        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => app.GetAsync($"/slow/{_id}", "alice")));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));
        Assert.Equal((1, 1, 49), (app.Runs[_id], answers.Count(a => a.Cache == "MISS"), answers.Count(a => a.Cache == "HIT")));
    }

    [Fact]
    public async Task WithRedisDownReadsAreServedByTheEndpointAndWritesSucceedEachCountedAsFailOpen()
    {
        var server = await Redis.StartAnotherAsync();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(
            $"{server.ConnectionString},abortConnect=false", options => options.BacklogPolicy = BacklogPolicy.FailFast);
        await using var app = await CachedApp.StartAsync(connection);
        await app.GetAsync($"/items/{_id}");
        Assert.Equal("HIT", (await app.GetAsync($"/items/{_id}")).Cache);

        await server.KillAsync();
        var started = DateTime.UtcNow;
        var during = new[] { await app.GetAsync($"/items/{_id}"), await app.GetAsync($"/items/{_id}") };
        await app.Store.EvictByTagAsync($"item:{_id}", CancellationToken.None);

        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(2), "requests waited for Redis");
        Assert.All(during, a => Assert.Equal((HttpStatusCode.OK, "MISS"), (a.Status, a.Cache)));
        Assert.Equal(3, app.Runs[_id]);
        Assert.Equal((2, 2, 1), (app.Measured("outputcache.fail_open:operation=get"), app.Measured("outputcache.fail_open:operation=set"),
            app.Measured("outputcache.fail_open:operation=evict")));

        await server.DisposeAsync();
    }
}
