using System.Threading.Channels;

namespace Platform.Notifications;

/// <summary>Why a subscription stopped receiving.</summary>
public enum SubscriptionEnd
{
    /// <summary>Still receiving.</summary>
    None,
    /// <summary>Its buffer was full: the client reads slower than events arrive. It can resume with Last-Event-ID.</summary>
    SlowClient,
    /// <summary>This process missed events it could not recover from the history; the client resumes (and gets a reset).</summary>
    EventsLost,
    /// <summary>The process is shutting down.</summary>
    Shutdown,
}

/// <summary>
/// One client's share of the process-wide subscription: a bounded buffer the hub fills without ever waiting.
/// When the buffer is full the client is dropped (<see cref="SubscriptionEnd.SlowClient"/>), so a client that stops
/// reading costs at most <c>ClientBufferSize</c> events of memory and never slows the others. Dispose to leave.
/// <para>
/// The buffer also carries <see cref="WakeUp"/>, which the hub's timer puts in an idle buffer: a stream waits on its
/// buffer alone (no timer, no cancellation token per wait, so a wait allocates nothing) and does its timed work
/// (heartbeat, session check) when woken.
/// </para>
/// </summary>
public sealed class NotificationSubscription : IDisposable
{
    private readonly NotificationHub _hub;
    private readonly Channel<NotificationEvent> _buffer;
    private readonly Action? _onSlowClient;
    private int _end;

    /// <summary>Not an event: tells the stream's loop to look at its clock (see <see cref="Wake"/>).</summary>
    internal static readonly NotificationEvent WakeUp = new("", 0, "", "", default, null, null, "");

    internal NotificationSubscription(NotificationHub hub, int capacity, Action? onSlowClient)
    {
        _hub = hub;
        _onSlowClient = onSlowClient;
        _buffer = Channel.CreateBounded<NotificationEvent>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            SingleWriter = false, // the hub's loop writes events; its timer and a leaving client write wake-ups
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then answers false instead of dropping silently
        });
    }

    /// <summary>Live events in id order, and <see cref="WakeUp"/>s; completes when the subscription ends (see <see cref="End"/>).</summary>
    internal ChannelReader<NotificationEvent> Events => _buffer.Reader;

    public SubscriptionEnd End => (SubscriptionEnd)Volatile.Read(ref _end);

    /// <summary>Events waiting in the buffer.</summary>
    public int Buffered => _buffer.Reader.Count;

    /// <summary>Called by the hub's loop only. False when this call found the buffer full and ended the subscription.</summary>
    internal bool TryDeliver(NotificationEvent notification)
    {
        if (_buffer.Writer.TryWrite(notification) || !Close(SubscriptionEnd.SlowClient))
        {
            return true; // buffered, or the subscription had already ended for another reason
        }
        // The client's writer may be blocked on a socket nobody reads: only aborting the connection frees it.
        _onSlowClient?.Invoke();
        return false;
    }

    /// <summary>
    /// Wakes the stream if it is waiting on an empty buffer. A buffer that holds anything wakes its stream anyway; a
    /// full one is left alone (a wake-up must never make a client look slow).
    /// </summary>
    internal void Wake()
    {
        if (_buffer.Reader.Count == 0)
        {
            _buffer.Writer.TryWrite(WakeUp);
        }
    }

    internal bool Close(SubscriptionEnd reason)
    {
        if (Interlocked.CompareExchange(ref _end, (int)reason, (int)SubscriptionEnd.None) != (int)SubscriptionEnd.None)
        {
            return false;
        }
        _buffer.Writer.TryComplete();
        return true;
    }

    public void Dispose() => _hub.Remove(this);
}
