namespace Platform.Jobs;

/// <summary>How a worker runs one queue (configuration section <c>Jobs:Processors:&lt;queue&gt;</c>).</summary>
public sealed class JobProcessorOptions
{
    public string Queue { get; set; } = "";

    /// <summary>Jobs run at once by this worker. Defaults to 4.</summary>
    public int Concurrency { get; set; } = 4;

    /// <summary>
    /// The lease: a job not completed, failed or renewed within it goes back to the queue (the attempt counts, unless
    /// the queue's Redis was unreachable meanwhile: see <see cref="Reaper"/>).
    /// Running jobs renew it every third of it. Defaults to 30 s.
    /// </summary>
    public TimeSpan VisibilityTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest sleep of an idle worker between claims; the enqueue doorbell usually wakes it sooner. Defaults to 2 s.</summary>
    public TimeSpan IdlePoll { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often this worker offers to reap expired leases (one worker per interval does). Defaults to 5 s.</summary>
    public TimeSpan ReapInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>On shutdown, how long running jobs may take to finish before they are cancelled and released. Defaults to 10 s.</summary>
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often queue depth is sampled for the <c>jobs.queue.depth</c> gauge. Defaults to 10 s.</summary>
    public TimeSpan DepthSampleInterval { get; set; } = TimeSpan.FromSeconds(10);
}
