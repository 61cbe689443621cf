using Platform.Sessions;
using Platform.Tests.Redis;

namespace Platform.Tests.Sessions;

[Collection(RedisCollection.Name)]
public sealed class PermissionCacheOnRedisServer(RedisServerFixture redis) : PermissionCacheTests(redis);

[Collection(GarnetCollection.Name)]
public sealed class PermissionCacheOnGarnet(GarnetServerFixture garnet) : PermissionCacheTests(garnet);

[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class PermissionCacheOnCluster(RedisClusterFixture cluster) : PermissionCacheTests(cluster);

public abstract class PermissionCacheTests(RedisServerFixture redis)
{
    private readonly PermissionCache _cache = new(redis.Connection);
    private readonly string _user = Guid.NewGuid().ToString("N");

    [Fact]
    public async Task AnAnswerIsLoadedOnceAndServedFromRedisUntilInvalidated()
    {
        var loads = 0;
        string[] permissions = ["read", "deploy"];
        Task<IReadOnlyList<string>> Load(CancellationToken _) { loads++; return Task.FromResult<IReadOnlyList<string>>(permissions); }

        Assert.Equal(permissions, await _cache.GetOrLoadAsync(_user, "p1", Load));
        Assert.Equal(permissions, await _cache.GetOrLoadAsync(_user, "p1", Load));
        // Another replica (its own connection) sees the same cached answer.
        await using var other = await redis.ConnectAsync();
        Assert.Equal(permissions, await new PermissionCache(other).GetOrLoadAsync(_user, "p1", Load));
        Assert.Equal(1, loads);

        permissions = ["read"];
        await new PermissionCache(other).InvalidateAsync(_user, "p1");

        Assert.Equal(["read"], await _cache.GetOrLoadAsync(_user, "p1", Load));
        Assert.Equal(2, loads);
    }

    [Fact]
    public async Task ALoadOverlappingAnInvalidationIsNotCached()
    {
        var release = new TaskCompletionSource();
        var slowLoad = _cache.GetOrLoadAsync(_user, "p2", async _ =>
        {
            await release.Task;
            return (IReadOnlyList<string>)["admin"]; // read from the store before the membership changed
        });

        await _cache.InvalidateAsync(_user, "p2"); // the membership changes while the load is in flight
        release.SetResult();
        Assert.Equal(["admin"], await slowLoad);

        var reloaded = await _cache.GetOrLoadAsync(_user, "p2", _ => Task.FromResult<IReadOnlyList<string>>(["none"]));
        Assert.Equal(["none"], reloaded);
    }

    [Fact]
    public async Task ALoadOverlappingAnInvalidationAcrossAGenerationResetIsNotCached()
    {
        await _cache.InvalidateAsync(_user, "p3"); // a generation exists, and the load below reads it
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var slowLoad = _cache.GetOrLoadAsync(_user, "p3", async _ =>
        {
            started.SetResult();
            await release.Task;
            return (IReadOnlyList<string>)["member"]; // read before the membership was taken away
        });
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // The generation is gone (it expired, or Redis came back empty), then the membership is taken away.
        await redis.Connection.GetDatabase().KeyDeleteAsync(SessionKeys.PermissionsGeneration(_user, "p3"));
        await _cache.InvalidateAsync(_user, "p3");
        release.SetResult();
        await slowLoad.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.False(await redis.Connection.GetDatabase().KeyExistsAsync(SessionKeys.Permissions(_user, "p3")),
            "the stale load was cached: the new generation matched the one it read");
        Assert.Equal([], await _cache.GetOrLoadAsync(_user, "p3", _ => Task.FromResult<IReadOnlyList<string>>([])));
    }
}

/// <summary>The permission cache across a real Redis restart without persistence (a server of its own: it is killed).</summary>
public sealed class PermissionCacheDataLossTests
{
    [Fact]
    public async Task ALoadOverlappingAnInvalidationAcrossARestartThatLostTheDataIsNotCached()
    {
        await using var server = await RedisServerProcess.StartNewAsync();
        await using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
        var cache = new PermissionCache(connection);
        var user = Guid.NewGuid().ToString("N");
        await cache.InvalidateAsync(user, "p1"); // the generation the load reads
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var slowLoad = cache.GetOrLoadAsync(user, "p1", async _ =>
        {
            started.SetResult();
            await release.Task;
            return (IReadOnlyList<string>)["member"];
        });
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // Redis restarts empty, then the membership is taken away.
        await server.KillAsync();
        await server.StartAsync();
        await cache.InvalidateAsync(user, "p1").WaitAsync(TimeSpan.FromSeconds(30));
        release.SetResult();
        await slowLoad.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.False(await connection.GetDatabase().KeyExistsAsync(SessionKeys.Permissions(user, "p1")),
            "the stale load was cached: the generation after the restart matched the one it read");
    }
}
