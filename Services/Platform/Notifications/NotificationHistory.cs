using Platform.Redis;
using StackExchange.Redis;

namespace Platform.Notifications;

/// <summary>
/// What a reader missed: the events after <paramref name="After"/> in id order. When <see cref="Complete"/> is false
/// some were lost (trimmed from the capped history, or Redis lost its data) and <see cref="Events"/> is the whole
/// history instead, for the reader to start over. <see cref="Sequence"/> is the newest id issued at the read.
/// </summary>
public sealed record HistoryRead(long After, long Sequence, bool Complete, IReadOnlyList<NotificationEvent> Events);

/// <summary>Reads the capped per-channel histories (one script, one consistent snapshot of every channel read).</summary>
public sealed class NotificationHistory(IConnectionMultiplexer redis)
{
    private static readonly RedisScript ReadSinceScript = RedisScript.FromResource<NotificationHistory>("read-since.lua");

    public async Task<HistoryRead> ReadSinceAsync(long after, IReadOnlyList<string> channels)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(after);
        ArgumentNullException.ThrowIfNull(channels);
        var keys = new RedisKey[channels.Count + 2];
        var args = new RedisValue[channels.Count + 1];
        keys[0] = NotificationKeys.Sequence;
        keys[1] = NotificationKeys.Trimmed;
        args[0] = after;
        for (var i = 0; i < channels.Count; i++)
        {
            keys[i + 2] = NotificationKeys.History(channels[i]);
            args[i + 1] = channels[i];
        }

        var result = (RedisResult[])(await ReadSinceScript.EvaluateAsync(redis.GetDatabase(), keys, args))!;
        var events = new List<NotificationEvent>();
        for (var i = 2; i < result.Length; i++)
        {
            events.AddRange(((RedisValue[])result[i]!).Select(json => NotificationEvent.Parse(json!)));
        }
        events.Sort((a, b) => a.Id.CompareTo(b.Id));
        return new HistoryRead(after, (long)result[0], (long)result[1] == 1, events);
    }

    /// <summary>The last events kept on one channel (at most 100), oldest first.</summary>
    public async Task<IReadOnlyList<NotificationEvent>> ReadChannelAsync(string channel) =>
        (await ReadSinceAsync(0, [channel])).Events;
}
