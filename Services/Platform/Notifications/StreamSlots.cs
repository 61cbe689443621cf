using Microsoft.Extensions.Options;
using Platform.Redis;
using StackExchange.Redis;

namespace Platform.Notifications;

/// <summary>
/// At most <see cref="NotificationStreamOptions.MaxStreamsPerUser"/> open streams per user, counted in Redis so
/// that the cap holds across every notifier process. Each stream holds a slot with a lease of
/// <see cref="NotificationStreamOptions.StreamLease"/>, renewed while it is open and given back when it ends; the
/// slot of a stream whose process died frees itself when its lease ends. One script per take or renewal
/// (<c>stream-slot.lua</c>), one ZREM per release.
/// </summary>
public sealed class StreamSlots(IConnectionMultiplexer redis, IOptions<NotificationStreamOptions> options)
{
    private static readonly RedisScript SlotScript = RedisScript.FromResource<StreamSlots>("stream-slot.lua", ScriptKeyAccess.DeclaredOnly);

    /// <summary>A slot for a new stream of <paramref name="userId"/>, or null if the user holds every slot already.</summary>
    public async Task<StreamSlot?> TryTakeAsync(string userId)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        var slot = new StreamSlot(this, userId, Guid.NewGuid().ToString("N"));
        return await TakeOrRenewAsync(slot) ? slot : null;
    }

    internal async Task<bool> TakeOrRenewAsync(StreamSlot slot) =>
        (long)await SlotScript.EvaluateAsync(redis.GetDatabase(), [NotificationKeys.Streams(slot.UserId)],
            [slot.Id, options.Value.MaxStreamsPerUser, (long)options.Value.StreamLease.TotalMilliseconds]) == 1;

    internal Task ReleaseAsync(StreamSlot slot) =>
        redis.GetDatabase().SortedSetRemoveAsync(NotificationKeys.Streams(slot.UserId), slot.Id);
}
