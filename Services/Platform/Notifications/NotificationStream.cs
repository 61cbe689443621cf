using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Platform.Hosting;
using Platform.Sessions;

namespace Platform.Notifications;

/// <summary>
/// One client's stream: the events it missed (from the history), then live ones from its subscription, each at most
/// once and in id order, filtered by what the viewer may see; heartbeat comments while idle; the session checked
/// again every <see cref="NotificationStreamOptions.SessionRevalidationInterval"/>, ending the stream once revoked, and
/// its stream slot renewed at the same time.
/// <para>
/// A live event is written as the bytes the hub encoded once for every stream (<see cref="NotificationEvent.Frame"/>),
/// straight to the response's pipe; the events that are waiting go out with one flush. Nothing here allocates per
/// event: no per-stream formatting, no timer per wait (the hub wakes idle streams, see <see cref="NotificationSubscription.Wake"/>).
/// </para>
/// </summary>
internal sealed class NotificationStream(
    NotificationSubscription subscription,
    StreamSlot slot,
    HistoryRead? replay,
    NotificationViewer viewer,
    NotificationAccess access,
    SessionStore sessions,
    NotificationStreamOptions options,
    NotificationTelemetry telemetry,
    ILogger logger) : IResult, ILiveWriter
{
    public const string ResetEventType = "reset";
    private static readonly byte[] OpenComment = ": stream open\n\n"u8.ToArray();
    private static readonly byte[] HeartbeatComment = ": heartbeat\n\n"u8.ToArray();

    private enum Visibility { Visible, Hidden, Unknown }

    private PipeWriter _writer = null!;
    private CancellationToken _aborted;
    // The highest id handled so far, in this epoch: anything at or below it is a duplicate (the seam between history
    // and live). A stream that read no history takes the epoch of the first event it gets. Written by this stream's
    // loop, or by the hub's while the stream is parked (see NotificationSubscription.Park), never by both at once.
    private long _last;
    private string? _epoch;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        // The headers ASP.NET Core's ServerSentEventsResult sends.
        var response = httpContext.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache,no-store";
        response.Headers.Pragma = "no-cache";
        response.Headers.ContentEncoding = "identity";
        httpContext.Features.GetRequiredFeature<IHttpResponseBodyFeature>().DisableBuffering();
        _writer = response.BodyWriter;

        var cancellationToken = _aborted = httpContext.RequestAborted;
        using var leave = subscription;
        // A client that leaves while its stream waits: wake the stream so that it ends now.
        using var wakeOnAbort = cancellationToken.UnsafeRegister(static s => ((NotificationSubscription)s!).Wake(), subscription);
        try
        {
            await StreamAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task StreamAsync(CancellationToken cancellationToken)
    {
        // Sends the headers now, so a client knows the stream is open before the first event.
        _writer.Write(OpenComment);
        if (!await FlushAsync(cancellationToken))
        {
            return;
        }

        _last = replay?.After.Id ?? 0;
        _epoch = replay?.Epoch;
        if (replay is { Complete: false })
        {
            _last = 0;
            _writer.Write(SseFrame.Encode(ResetEventType,
                $$"""{"lastEventId":{{JsonSerializer.Serialize(replay.After.ToString())}},"epoch":{{JsonSerializer.Serialize(replay.Epoch)}},"sequence":{{replay.Sequence}},"reason":"The events after lastEventId are no longer kept; the whole history follows."}""",
                null));
        }

        foreach (var missed in replay?.Events ?? [])
        {
            if (missed.Id <= _last)
            {
                continue;
            }
            _last = missed.Id;
            var visibility = await VisibilityAsync(missed, cancellationToken);
            if (visibility == Visibility.Unknown)
            {
                await FlushAsync(cancellationToken);
                return;
            }
            if (visibility == Visibility.Visible)
            {
                Write(missed);
            }
        }

        var heartbeatAt = DateTime.UtcNow + options.HeartbeatInterval;
        var revalidateAt = DateTime.UtcNow + options.SessionRevalidationInterval;
        while (true)
        {
            var ends = false;
            while (!ends && subscription.Events.TryRead(out var live))
            {
                if (ReferenceEquals(live, NotificationSubscription.WakeUp))
                {
                    continue;
                }
                _epoch ??= live.Epoch;
                if (live.Epoch != _epoch)
                {
                    // Redis lost its data under this stream: the client resumes with its Last-Event-ID and gets a reset.
                    logger.LogDebug("Notification stream of user {UserId} ends: epoch {Old} is now {New}.", viewer.UserId, _epoch, live.Epoch);
                    ends = true;
                    break;
                }
                if (live.Id <= _last)
                {
                    continue;
                }
                _last = live.Id;
                var visibility = await VisibilityAsync(live, cancellationToken);
                ends = visibility == Visibility.Unknown;
                if (visibility == Visibility.Visible)
                {
                    Write(live);
                }
            }
            // Every event that was waiting goes out with this one flush.
            if (!await FlushAsync(cancellationToken) || ends)
            {
                return;
            }

            var now = DateTime.UtcNow;
            if (now >= revalidateAt)
            {
                if (!await SessionIsLiveAsync())
                {
                    return;
                }
                revalidateAt = now + options.SessionRevalidationInterval;
            }
            if (now >= heartbeatAt)
            {
                _writer.Write(HeartbeatComment);
                if (!await FlushAsync(cancellationToken))
                {
                    return;
                }
                heartbeatAt = now + options.HeartbeatInterval;
            }

            // No token: a leaving client and the hub's timer wake this wait by a WakeUp, so it allocates nothing. While
            // it waits on an empty buffer, the hub writes the live events it can for it (Park).
            if (!subscription.Park(this))
            {
                continue;
            }
            var woken = !cancellationToken.IsCancellationRequested && await subscription.Events.WaitToReadAsync(CancellationToken.None);
            if (subscription.Unpark() is { } handedFlush && !await handedFlush)
            {
                return;
            }
            if (!woken || cancellationToken.IsCancellationRequested)
            {
                // The subscription ended: slow client, events lost to this process, or shutdown. The client resumes.
                logger.LogDebug("Notification stream of user {UserId} ends: {Reason}.", viewer.UserId,
                    cancellationToken.IsCancellationRequested ? "the client left" : subscription.End);
                return;
            }
        }
    }

    LiveWrite ILiveWriter.TryWriteLive(NotificationEvent live)
    {
        // The same decisions as the stream's loop, for what can be decided at once; anything else is the loop's.
        if (_aborted.IsCancellationRequested || (_epoch ?? live.Epoch) != live.Epoch
            || !NotificationAccess.TryDecideNow(viewer, live, out var visible))
        {
            return LiveWrite.Declined;
        }
        if (live.Id <= _last)
        {
            return LiveWrite.Skipped;
        }
        if (visible)
        {
            try
            {
                Write(live);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Left to the stream's loop, which meets it as it would have met it writing this event itself.
                return LiveWrite.Declined;
            }
        }
        _epoch ??= live.Epoch;
        _last = live.Id;
        return visible ? LiveWrite.Written : LiveWrite.Skipped;
    }

    Task<bool>? ILiveWriter.TryFlushLive()
    {
        try
        {
            var flush = FlushAsync(_aborted);
            // The client is slow (the flush waits for it) or gone (false): either way its stream's loop takes over.
            return flush.IsCompletedSuccessfully && flush.Result ? null : flush.AsTask();
        }
        catch (Exception e)
        {
            // The stream's loop meets it as it would have met it flushing itself; the hub's loop goes on.
            return Task.FromException<bool>(e);
        }
    }

    private void Write(NotificationEvent notification)
    {
        _writer.Write(notification.Frame);
        telemetry.Delivered.Add(1, new KeyValuePair<string, object?>("type", notification.Type));
        telemetry.DeliveryLatency.Record((DateTimeOffset.UtcNow - notification.Timestamp).TotalMilliseconds,
            new KeyValuePair<string, object?>("type", notification.Type));
    }

    /// <returns>false when the client is gone.</returns>
    private async ValueTask<bool> FlushAsync(CancellationToken cancellationToken)
    {
        var flushed = await _writer.FlushAsync(cancellationToken);
        return !flushed.IsCompleted && !flushed.IsCanceled;
    }

    private async ValueTask<Visibility> VisibilityAsync(NotificationEvent notification, CancellationToken cancellationToken)
    {
        try
        {
            return await access.CanSeeAsync(viewer, notification, cancellationToken) ? Visibility.Visible : Visibility.Hidden;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Never skip an event the viewer might be allowed to see: end the stream; the client resumes from here.
            logger.LogWarning("Notification stream of user {UserId} ends: cannot tell whether event {Id} is visible ({Message}).",
                viewer.UserId, notification.Id, e.Message);
            return Visibility.Unknown;
        }
    }

    private async Task<bool> SessionIsLiveAsync()
    {
        // Every stream, every interval, and almost always still live: not traced (the sessions' metrics count it).
        using var quiet = Untraced.Begin();
        try
        {
            var session = await sessions.ValidateAsync(viewer.Token);
            if (session is null)
            {
                logger.LogInformation("Notification stream of user {UserId} ends: the session was revoked or expired.", viewer.UserId);
                return false;
            }
            viewer = viewer with { IsAdmin = session.User.Roles.Contains(SessionRoles.Admin) };
            if (!await slot.RenewAsync())
            {
                logger.LogInformation("Notification stream of user {UserId} ends: its stream slot lapsed and the user's others hold every slot.", viewer.UserId);
                return false;
            }
            return true;
        }
        catch (Exception e) when (RedisOutage.IsOutage(e))
        {
            // Nobody can revoke a session while Redis is away either: keep streaming, check at the next interval.
            return true;
        }
    }
}
