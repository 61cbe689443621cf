using System.Text.RegularExpressions;

namespace Platform.Jobs;

/// <summary>Settings of the job queue (configuration section <c>Jobs</c>).</summary>
public sealed partial class JobQueueOptions
{
    /// <summary>The highest priority; 0 is the lowest and the default.</summary>
    public const int MaxPriority = 1_000_000;

    /// <summary>The queues that exist; enqueueing to any other is refused. Names: lowercase letters, digits, '_' and '-'.</summary>
    public List<string> Queues { get; set; } = [];

    /// <summary>Largest payload accepted, in UTF-8 bytes. Defaults to 64 KB.</summary>
    public int MaxPayloadBytes { get; set; } = 64 * 1024;

    /// <summary>Attempts when the enqueuer does not say. Defaults to 5.</summary>
    public int DefaultMaxAttempts { get; set; } = 5;

    /// <summary>How long completed, failed and cancelled jobs stay readable by id. Defaults to 1 day. Dead jobs stay until retried or cancelled.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>The first retry's backoff; each later one doubles (with jitter), up to <see cref="MaxBackoff"/>. Defaults to 1 s.</summary>
    public TimeSpan FirstBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest backoff between attempts. Defaults to 5 minutes.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Longest delay accepted. Defaults to 30 days.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// Replicas that must hold an enqueue before <see cref="JobQueue.EnqueueAsync"/> returns (<c>WAIT</c>, on the queue's
    /// master), or 0 not to wait. Redis replicates asynchronously: a master killed right after acknowledging an
    /// enqueue can take it with it when its replica is promoted; with 1 here, an acknowledged enqueue is on the
    /// replica too. Needs replicas (a cluster, or a server with a replica); on a lone server every enqueue would
    /// fail. Defaults to 0.
    /// </summary>
    public int EnqueueReplicas { get; set; }

    /// <summary>
    /// How long an enqueue waits for <see cref="EnqueueReplicas"/>; past it the enqueue throws
    /// <see cref="JobNotReplicatedException"/> (an outage: retry with the same idempotency key). The wait holds up the
    /// other commands on that connection to the same master, so keep it short. Defaults to 500 ms.
    /// </summary>
    public TimeSpan EnqueueReplicaTimeout { get; set; } = TimeSpan.FromMilliseconds(500);

    internal static bool IsValidQueueName(string name) => QueueName().IsMatch(name);

    [GeneratedRegex("^[a-z0-9_][a-z0-9_-]{0,63}$")]
    private static partial Regex QueueName();
}
