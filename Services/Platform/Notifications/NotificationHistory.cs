using Platform.Redis;
using StackExchange.Redis;

namespace Platform.Notifications;

/// <summary>A channel and project (empty for events of no project) that lost events from its history.</summary>
public sealed record TrimmedTopic(string Channel, string ProjectId);

/// <summary>
/// What a reader missed since <paramref name="After"/>: the events after it in id order, read in <see cref="Epoch"/>
/// (whose newest id at the read was <see cref="Sequence"/>). When <see cref="Complete"/> is false, events after it are
/// gone (Redis lost its data, or they were trimmed from the capped history) and <see cref="Events"/> is the whole
/// history, for the reader to start over. <see cref="Trimmed"/>, when not null, lists the topics that lost events:
/// a reader who could have seen none of them may keep its place instead (<see cref="KeepPlace"/>).
/// </summary>
public sealed record HistoryRead(
    EventPosition After, string Epoch, long Sequence, bool Complete, IReadOnlyList<TrimmedTopic>? Trimmed, IReadOnlyList<NotificationEvent> Events)
{
    /// <summary>The trimmed events were none of the reader's business: what followed its position, as a complete read.</summary>
    public HistoryRead KeepPlace() => this with { Complete = true, Trimmed = null, Events = Events.Where(e => e.Id > After.Id).ToList() };

    /// <summary>The reader could have seen a trimmed event: start over.</summary>
    public HistoryRead StartOver() => this with { Trimmed = null };
}

/// <summary>Reads the capped per-channel histories (one script, one consistent snapshot of every channel read).</summary>
public sealed class NotificationHistory(IConnectionMultiplexer redis)
{
    private static readonly RedisScript ReadSinceScript = RedisScript.FromResource<NotificationHistory>("read-since.lua", ScriptKeyAccess.DeclaredOnly);

    public async Task<HistoryRead> ReadSinceAsync(EventPosition after, IReadOnlyList<string> channels)
    {
        ArgumentNullException.ThrowIfNull(after);
        ArgumentOutOfRangeException.ThrowIfNegative(after.Id);
        ArgumentNullException.ThrowIfNull(channels);
        const int fixedKeys = 4;
        var keys = new RedisKey[channels.Count + fixedKeys];
        var args = new RedisValue[channels.Count + 3];
        keys[0] = NotificationKeys.Sequence;
        keys[1] = NotificationKeys.Trimmed;
        keys[2] = NotificationKeys.Epoch;
        keys[3] = NotificationKeys.TrimmedTopics;
        args[0] = after.Epoch ?? "";
        args[1] = after.Id;
        args[2] = NotificationKeys.NewEpoch();
        for (var i = 0; i < channels.Count; i++)
        {
            keys[i + fixedKeys] = NotificationKeys.History(channels[i]);
            args[i + 3] = channels[i];
        }

        var result = (RedisResult[])(await ReadSinceScript.EvaluateAsync(redis.GetDatabase(), keys, args))!;
        var epoch = (string)result[0]!;
        var outcome = (long)result[2];
        var trimmed = outcome == 2
            ? ((RedisValue[])result[3]!).Select(topic => ((string)topic!).Split('|', 2)).Select(p => new TrimmedTopic(p[0], p[1])).ToList()
            : null;
        var events = new List<NotificationEvent>();
        for (var i = fixedKeys; i < result.Length; i++)
        {
            events.AddRange(((RedisValue[])result[i]!).Select(json => NotificationEvent.Parse(json!)));
        }
        events.Sort((a, b) => a.Id.CompareTo(b.Id));
        return new HistoryRead(after, epoch, (long)result[1], outcome == 1, trimmed, events);
    }

    /// <summary>The current epoch and its newest id, without reading any history.</summary>
    public async Task<EventPosition> ReadPositionAsync()
    {
        var read = await ReadSinceAsync(new EventPosition(null, 0), []);
        return new EventPosition(read.Epoch, read.Sequence);
    }

    /// <summary>The last events kept on one channel (at most 100), oldest first.</summary>
    public async Task<IReadOnlyList<NotificationEvent>> ReadChannelAsync(string channel) =>
        (await ReadSinceAsync(new EventPosition(null, 0), [channel])).Events;
}
