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
/// <para>
/// A stream that waits with an empty buffer lends its writer to the hub (<see cref="Park"/>): the hub's loop then writes
/// each live event it can decide on at once (<see cref="ILiveWriter.TryWriteLive"/>) to the response itself, instead of
/// waking the stream's loop for it: one fan-out loop writes an event to every waiting stream, and a thousand streams
/// cost no thousand continuations per event. Anything else (an event whose visibility needs a look-up, a flush that
/// must wait for a slow client, another epoch) goes through the buffer as before, and the stream takes its writer back
/// (<see cref="Unpark"/>) when it wakes. The gate makes the two writers take turns: the hub writes only while the stream
/// is parked, and the stream touches its writer only after taking it back.
/// </para>
/// </summary>
public sealed class NotificationSubscription : IDisposable
{
    private readonly NotificationHub _hub;
    private readonly Channel<NotificationEvent> _buffer;
    private readonly Action? _onSlowClient;
    private readonly Lock _gate = new();
    private ILiveWriter? _parked;
    private Task<bool>? _handedFlush;
    private bool _unflushed;
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

    /// <summary>
    /// Called by the hub's loop only. False when this call found the buffer full and ended the subscription.
    /// <paramref name="written"/>: the hub wrote the event to the parked stream's response, which then needs
    /// <see cref="FlushLive"/>.
    /// </summary>
    internal bool TryDeliver(NotificationEvent notification, out bool written)
    {
        written = false;
        lock (_gate)
        {
            if (_parked is { } writer && _buffer.Reader.Count == 0)
            {
                switch (writer.TryWriteLive(notification))
                {
                    case LiveWrite.Written:
                        written = _unflushed = true;
                        return true;
                    case LiveWrite.Skipped:
                        return true;
                    default:
                        _parked = null; // the stream handles this event, and takes its writer back as it wakes for it
                        break;
                }
            }
        }
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

    /// <summary>
    /// The stream is about to wait on an empty buffer: the hub may write live events for it until it wakes. False if the
    /// buffer is not empty (the stream reads it first).
    /// </summary>
    internal bool Park(ILiveWriter writer)
    {
        lock (_gate)
        {
            if (_buffer.Reader.Count > 0)
            {
                return false;
            }
            _parked = writer;
            return true;
        }
    }

    /// <summary>
    /// The stream woke: the hub writes no more for it (a write under way ends first). Returns the flush the hub started
    /// and could not finish, for the stream to wait for; null if none.
    /// </summary>
    internal Task<bool>? Unpark()
    {
        lock (_gate)
        {
            _parked = null;
            _unflushed = false; // the stream's loop flushes what the hub wrote

            var handed = _handedFlush;
            _handedFlush = null;
            return handed;
        }
    }

    /// <summary>Called by the hub's loop only: sends what it wrote to the parked stream since the last call.</summary>
    internal void FlushLive()
    {
        lock (_gate)
        {
            if (!_unflushed || _parked is not { } writer)
            {
                return;
            }
            _unflushed = false;
            if (writer.TryFlushLive() is { } pending)
            {
                // The client reads slower than this (or left): its stream waits for the flush, and events queue meanwhile.
                _handedFlush = pending;
                _parked = null;
                _buffer.Writer.TryWrite(WakeUp);
            }
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

/// <summary>What the hub's loop did with a live event it offered a parked stream.</summary>
internal enum LiveWrite
{
    /// <summary>Written to the response, not flushed yet.</summary>
    Written,
    /// <summary>Nothing to write: a duplicate, or an event the viewer may not see.</summary>
    Skipped,
    /// <summary>Nothing written: the stream's own loop must handle this event.</summary>
    Declined,
}

/// <summary>A stream's writer, lent to the hub while the stream waits (see <see cref="NotificationSubscription.Park"/>).</summary>
internal interface ILiveWriter
{
    /// <summary>Writes the event if that needs no waiting (no look-up, no other epoch), without flushing; never blocks.</summary>
    LiveWrite TryWriteLive(NotificationEvent notification);

    /// <summary>
    /// Flushes what <see cref="TryWriteLive"/> wrote. Null when that is done; otherwise the flush still under way
    /// (true at its end while the client is there), which the stream's loop must wait for.
    /// </summary>
    Task<bool>? TryFlushLive();
}
