using Platform.Redis;

namespace Platform.Jobs;

/// <summary>
/// A claimed job, its lease token, and its lease's <see cref="LeaseDeadline"/>: <see cref="Lost"/> fires when a
/// renewal is refused or, at the latest, when the lease may have ended on the server (a lease after the send of the
/// last claim or renewal that succeeded, less a margin), so before the reaper can hand the job to another worker.
/// </summary>
internal sealed class RunningJob : IAsyncDisposable
{
    private readonly LeaseDeadline _deadline;

    public RunningJob(JobContext context, string token, string traceParent, string traceState, long leaseSent, TimeSpan lease)
    {
        (Context, Token, TraceParent, TraceState) = (context, token, traceParent, traceState);
        _deadline = new LeaseDeadline(lease, leaseSent, Lose);
    }

    public JobContext Context { get; }
    public string Id => Context.Id;
    public string Token { get; }
    public string TraceParent { get; }
    public string TraceState { get; }
    public CancellationTokenSource Lost { get; } = new();

    /// <summary>Until <see cref="Lost"/> fires by the deadline; outcomes are worth retrying only within it.</summary>
    public TimeSpan LeaseLeft => _deadline.Left;

    /// <summary>A renewal sent at <paramref name="sent"/> (Stopwatch timestamp) succeeded.</summary>
    public void Renewed(long sent) => _deadline.Extend(sent);

    public void Lose()
    {
        try
        {
            Lost.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        catch (AggregateException)
        {
            // A handler's own cancellation callback threw: that is the handler's failure, seen when it returns; this
            // runs on a timer thread, where an exception would end the process.
        }
    }

    public ValueTask DisposeAsync() => _deadline.DisposeAsync();
}
