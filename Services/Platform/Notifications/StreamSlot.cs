using Platform.Hosting;

namespace Platform.Notifications;

/// <summary>One open stream's slot (see <see cref="StreamSlots"/>). Disposing gives it back, once.</summary>
public sealed class StreamSlot : IAsyncDisposable
{
    private readonly StreamSlots _slots;
    private int _released;

    internal StreamSlot(StreamSlots slots, string userId, string id) => (_slots, UserId, Id) = (slots, userId, id);

    public string UserId { get; }
    public string Id { get; }

    /// <summary>Extends the lease. False if the slot was lost meanwhile (its lease ran out and others took every slot).</summary>
    public Task<bool> RenewAsync() => _slots.TakeOrRenewAsync(this);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _released, 1) == 1)
        {
            return;
        }
        try
        {
            await _slots.ReleaseAsync(this);
        }
        catch (Exception e) when (RedisOutage.IsOutage(e))
        {
            // The lease ends by itself: the slot is free again within StreamLease.
        }
    }
}
