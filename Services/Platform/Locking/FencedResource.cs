using Platform.Redis;
using StackExchange.Redis;

namespace Platform.Locking;

/// <summary>
/// A value in Redis that only the newest lock holder may write: a write carries the holder's fencing token and
/// is refused if a newer (or the same) token has written. For resources outside Redis, store and compare
/// <see cref="ILockHandle.GetFencingTokenAsync"/> there the same way.
/// </summary>
public sealed class FencedResource(IConnectionMultiplexer redis)
{
    private static readonly RedisScript FencedWrite = RedisScript.FromResource<FencedResource>("fenced-write.lua", ScriptKeyAccess.DeclaredOnly);

    public async Task<bool> TryWriteAsync(string key, long fencingToken, string value) =>
        (long)await FencedWrite.EvaluateAsync(redis.GetDatabase(), [key], [fencingToken, value]) == 1;

    public async Task<string?> ReadAsync(string key) => await redis.GetDatabase().HashGetAsync(key, "value");
}
