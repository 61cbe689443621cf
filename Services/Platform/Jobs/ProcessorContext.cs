using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Platform.Jobs;

/// <summary>What the parts of one queue's <see cref="JobProcessor"/> share: the queue, its keys and settings, the log, the doorbell.</summary>
internal sealed class ProcessorContext(JobQueue queue, JobProcessorOptions options, ILogger logger)
{
    public JobQueue Queue => queue;
    public JobProcessorOptions Options => options;
    public ILogger Logger => logger;
    public JobKeys Keys { get; } = queue.KeysOf(options.Queue);
    public KeyValuePair<string, object?> QueueTag { get; } = new("queue", options.Queue);
    public IDatabase Db => queue.Redis.GetDatabase();
    public long LeaseMs => (long)options.VisibilityTimeout.TotalMilliseconds;

    /// <summary>Rung by the enqueue doorbell (pub/sub) and by this worker when it schedules a retry; the idle claim loop waits on it.</summary>
    public Channel<bool> Doorbell { get; } = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    /// <summary>Fires past the shutdown grace period: running handlers are cancelled and their jobs released.</summary>
    public CancellationTokenSource Abandon { get; } = new();

    /// <summary>Ids whose hash was gone, removed from the queue's sets by a script: counted and logged, never fatal.</summary>
    public void ReportOrphans(long count, string where)
    {
        if (count > 0)
        {
            queue.Telemetry.Orphans.Add(count, QueueTag, new("where", where));
            logger.LogWarning("Removed {Count} job id(s) of {Queue} whose job hash was missing (found by {Where}): deleted by hand, evicted, or a partial restore",
                count, options.Queue, where);
        }
    }

    /// <summary>
    /// Redis is away, slow, or back but still loading its data (LOADING): worth retrying. A Redis call cancelled by the
    /// client (its connection failed before the reply) counts too: the processor never cancels its Redis calls.
    /// </summary>
    public static bool IsOutage(Exception e) => e is RedisConnectionException or RedisTimeoutException or TaskCanceledException
        || (e is RedisServerException && e.Message.StartsWith("LOADING", StringComparison.Ordinal))
        || (e.InnerException is { } inner && IsOutage(inner));
}
