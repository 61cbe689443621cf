using System.Security.Cryptography;
using Platform.Redis;
using StackExchange.Redis;

namespace Platform.Sessions;

/// <summary>
/// The invalidation fence that <see cref="PermissionCache"/> and <see cref="ProjectMemberCache"/> share: a cached value
/// beside a generation key. An invalidation deletes the value and writes a new random generation token; a load stores
/// only if the token it read before loading is still there. A token never repeats (a counter would start again at 1
/// after its key expired or Redis lost its data, and could match a load's old read), so a slow load can never write
/// back an answer that an invalidation overtook.
/// </summary>
internal static class GenerationFence
{
    /// <summary>How long a generation token is kept: longer than any load can take.</summary>
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(2);

    private static readonly RedisScript StoreScript = RedisScript.FromResource<PermissionCache>("permissions-store.lua", ScriptKeyAccess.DeclaredOnly);
    private static readonly RedisScript InvalidateScript = RedisScript.FromResource<PermissionCache>("permissions-invalidate.lua", ScriptKeyAccess.DeclaredOnly);

    /// <param name="keys">The value's key, then its generation's key (one hash tag).</param>
    /// <param name="generationRead">The generation read with the value before loading (null when there was none).</param>
    public static async Task StoreAsync(IDatabase db, RedisKey[] keys, RedisValue generationRead, string json, TimeSpan timeToLive) =>
        await StoreScript.EvaluateAsync(db, keys, [generationRead.IsNull ? "" : generationRead, json, (long)timeToLive.TotalMilliseconds]);

    public static async Task InvalidateAsync(IDatabase db, RedisKey[] keys) =>
        await InvalidateScript.EvaluateAsync(db, keys,
            [Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), (long)Lifetime.TotalMilliseconds]);
}
