namespace Platform.Jobs;

/// <summary>
/// Thrown by a handler that cannot run its job yet (a resource it needs is busy): the job goes back to the queue,
/// due after <see cref="Delay"/>, its attempt not counted, and the worker slot is free for other jobs meanwhile.
/// <see cref="JobContext.Deferrals"/> tells the next run how often this happened.
/// </summary>
public sealed class JobDeferredException(TimeSpan delay, string message) : Exception(message)
{
    public TimeSpan Delay { get; } = delay > TimeSpan.Zero ? delay : TimeSpan.FromMilliseconds(1);
}
