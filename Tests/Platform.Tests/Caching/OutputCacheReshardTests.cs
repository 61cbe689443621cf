using System.Net;
using System.Text.RegularExpressions;
using Platform.Tests.Redis;
using Xunit.Abstractions;

namespace Platform.Tests.Caching;

/// <summary>
/// The slot of an item's tag set moves to another master (<see cref="SlotMigration"/>) while callers read the item
/// through the output cache and writes evict its tag. Eviction walks that set and deletes the entries it lists (in
/// other slots), so mid-move it meets ASK and TRYAGAIN. Nothing may answer 500, and a read after an eviction returned
/// must never be the answer from before it (a stale entry served for its whole lifetime).
/// </summary>
[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed partial class OutputCacheReshardTests(RedisClusterFixture cluster, ITestOutputHelper output)
{
    [Fact]
    public async Task WhileATagsSlotMovesReadsNeverFailAndNoReadAfterAnEvictionIsStale()
    {
        await using var app = await CachedApp.StartAsync(cluster.Connection);
        var id = Guid.NewGuid().ToString("N");
        var tagSet = $"cachetest:outputcache:__MSOCT_item:{id}";
        var callers = new[] { "alice", "bob", "carol", "dave" };
        var (reads, hits, evictions, stale) = (0, 0, 0, 0);
        var failures = new List<string>();
        foreach (var caller in callers)
        {
            await app.GetAsync($"/items/{id}", caller); // cached: the tag set exists and lists four entries
        }
        await SlotMigration.FillAsync(cluster.Connection, TagOf(cluster, tagSet), 300);

        var migration = await SlotMigration.MoveDuringAsync(cluster.Cluster, SlotMigration.SlotOf(cluster.Connection, tagSet), async stop =>
        {
            while (!stop.IsCancellationRequested)
            {
                // A write: the tag is evicted (fail-open counted if it could not be); every caller reads again.
                var failedOpenBefore = app.Measured("outputcache.fail_open:operation=evict");
                var runBefore = app.Runs.GetValueOrDefault(id);
                await app.Store.EvictByTagAsync($"item:{id}", CancellationToken.None);
                evictions++;
                var skipped = app.Measured("outputcache.fail_open:operation=evict") > failedOpenBefore;
                foreach (var caller in callers)
                {
                    var answer = await app.GetAsync($"/items/{id}", caller);
                    reads++;
                    if (answer.Status != HttpStatusCode.OK)
                    {
                        failures.Add($"{(int)answer.Status} {answer.Body[..Math.Min(answer.Body.Length, 100)]}");
                        continue;
                    }
                    hits += answer.Cache == "HIT" ? 1 : 0;
                    // The body carries the endpoint's run number: one from before the eviction is the old answer.
                    if (RunOf(answer.Body) <= runBefore)
                    {
                        stale++;
                        failures.Add($"stale: run {RunOf(answer.Body)} served after eviction {evictions} (runs before it: {runBefore}, eviction skipped: {skipped})");
                    }
                }
                await Task.Delay(20);
            }
        });

        var failedOpen = app.Measured("outputcache.fail_open:operation=evict");
        output.WriteLine(migration.ToString());
        output.WriteLine($"{evictions} evictions ({failedOpen} failed open), {reads} reads ({hits} hits), {stale} stale; " +
            $"fail-open: get {app.Measured("outputcache.fail_open:operation=get")}, set {app.Measured("outputcache.fail_open:operation=set")}");
        foreach (var failure in failures.Distinct().Take(20))
        {
            output.WriteLine($"  {failure}");
        }

        Assert.True(evictions >= 5, $"only {evictions} evictions during the move: the test proved nothing");
        Assert.Empty(failures);
        // And after the move, the cache works on the new owner: a miss, then a hit.
        await app.Store.EvictByTagAsync($"item:{id}", CancellationToken.None);
        Assert.Equal("MISS", (await app.GetAsync($"/items/{id}", "alice")).Cache);
        Assert.Equal("HIT", (await app.GetAsync($"/items/{id}", "alice")).Cache);
    }

    /// <summary>A hash tag whose keys share <paramref name="key"/>'s slot (filler for the move to take a while).</summary>
    private static string TagOf(RedisClusterFixture cluster, string key)
    {
        var slot = SlotMigration.SlotOf(cluster.Connection, key);
        for (var i = 0; ; i++)
        {
            if (SlotMigration.SlotOf(cluster.Connection, $"{{t{i}}}") == slot)
            {
                return $"t{i}";
            }
        }
    }

    private static int RunOf(string body) => int.Parse(RunField().Match(body).Groups[1].Value);

    [GeneratedRegex("\"run\":(\\d+)")]
    private static partial Regex RunField();
}
