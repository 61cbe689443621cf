using System.Text.Json;
using StackExchange.Redis;

namespace Platform.Sessions;

/// <summary>
/// <c>permissions(user, project)</c>, cached in Redis for an hour and invalidated explicitly when a membership
/// changes. Redis only, no in-process layer: HybridCache's local layer would keep serving a revoked permission
/// in every other replica until it expired, because nothing tells the other processes. A hit is one MGET.
/// A miss loads from the data of record and stores only if no invalidation came in meanwhile
/// (<see cref="GenerationFence"/>), so a slow load can never write back a permission that was just taken away.
/// </summary>
public sealed class PermissionCache(IConnectionMultiplexer redis)
{
    /// <summary>How long a cached answer lives. Defaults to 1 hour.</summary>
    public static readonly TimeSpan TimeToLive = TimeSpan.FromHours(1);

    public async Task<IReadOnlyList<string>> GetOrLoadAsync(
        string userId, string projectId, Func<CancellationToken, Task<IReadOnlyList<string>>> load, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(load);
        var keys = Keys(userId, projectId);
        var db = redis.GetDatabase();

        var cached = await db.StringGetAsync(keys);
        if (!cached[0].IsNull)
        {
            return JsonSerializer.Deserialize<string[]>((string)cached[0]!)!;
        }

        var permissions = await load(cancellationToken);
        await GenerationFence.StoreAsync(db, keys, cached[1], JsonSerializer.Serialize(permissions), TimeToLive);
        return permissions;
    }

    public async Task InvalidateAsync(string userId, string projectId) =>
        await GenerationFence.InvalidateAsync(redis.GetDatabase(), Keys(userId, projectId));

    private static RedisKey[] Keys(string userId, string projectId) =>
        [SessionKeys.Permissions(userId, projectId), SessionKeys.PermissionsGeneration(userId, projectId)];
}
