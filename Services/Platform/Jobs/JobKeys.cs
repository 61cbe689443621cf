using StackExchange.Redis;

namespace Platform.Jobs;

/// <summary>
/// The one place that names a queue's keys and their order in KEYS: every Jobs script receives the same six, so
/// a script and its caller cannot disagree. All share the hash tag <c>{queue}</c> (one cluster slot per queue).
/// </summary>
internal sealed class JobKeys
{
    public JobKeys(string queue)
    {
        Queue = queue;
        Prefix = $"jobs:{{{queue}}}:";
        All = [Prefix + "ready", Prefix + "scheduled", Prefix + "active", Prefix + "dead", Prefix + "seq", Prefix + "reaper"];
        Doorbell = Prefix + "doorbell";
    }

    public string Queue { get; }

    /// <summary>
    /// <c>jobs:{queue}:</c>; a job's hash is <c>{Prefix}job:{id}</c>, an idempotency key <c>{Prefix}idem:{key}</c>, the id
    /// epoch <c>{Prefix}epoch</c>, a claim's stored reply <c>{Prefix}call:{callId}</c>.
    /// </summary>
    public string Prefix { get; }

    /// <summary>ready, scheduled, active, dead, seq, reaper: KEYS[1..6] of every script.</summary>
    public RedisKey[] All { get; }

    /// <summary>The pub/sub channel enqueue rings when a job becomes ready in an empty queue.</summary>
    public string Doorbell { get; }

    public string Job(string id) => $"{Prefix}job:{id}";

    /// <summary>Hex digits of a queue's epoch, the random part of its job ids (see enqueue.lua).</summary>
    public const int EpochLength = 8;

    /// <summary>The queue a job id belongs to: ids are <c>{queue}-{epoch}-{sequence}</c>, the epoch <see cref="EpochLength"/> hex digits.</summary>
    public static string? QueueOf(string jobId)
    {
        var dash = jobId.LastIndexOf('-');
        if (dash < EpochLength + 2 || dash == jobId.Length - 1 || jobId.AsSpan(dash + 1).IndexOfAnyExceptInRange('0', '9') >= 0)
        {
            return null;
        }
        var epoch = dash - EpochLength;
        return jobId[epoch - 1] == '-' && epoch > 1 && !jobId.AsSpan(epoch, EpochLength).ContainsAnyExcept("0123456789abcdef")
            ? jobId[..(epoch - 1)]
            : null;
    }
}
