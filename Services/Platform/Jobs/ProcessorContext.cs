using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Platform.Hosting;
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

    private long _lastOutage;

    /// <summary>A call to the queue's Redis failed with <paramref name="e"/>: true, and remembered, if that is an outage (<see cref="IsOutage"/>).</summary>
    public bool MetOutage(Exception e)
    {
        if (!IsOutage(e))
        {
            return false;
        }
        Volatile.Write(ref _lastOutage, Stopwatch.GetTimestamp());
        return true;
    }

    /// <summary>
    /// Whether this worker met the queue's Redis unreachable within <paramref name="window"/>: a lease that ends now
    /// may have ended because its renewals or its outcome could not get through, not because its worker stopped.
    /// </summary>
    public bool SawOutageWithin(TimeSpan window) =>
        Volatile.Read(ref _lastOutage) is var at and not 0 && Stopwatch.GetElapsedTime(at) <= window;

    /// <summary>
    /// Worth retrying: Redis is away, slow, or refusing work for a while (<see cref="RedisOutage.IsOutage"/>: LOADING,
    /// BUSY, READONLY...), or a Redis call was cancelled by the client (its connection failed before the reply): the
    /// processor never cancels its Redis calls itself.
    /// </summary>
    public static bool IsOutage(Exception e) => RedisOutage.IsOutage(e) || e is TaskCanceledException
        || (e.InnerException is { } inner && IsOutage(inner));
}
