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
    ILogger logger) : IResult
{
    public const string ResetEventType = "reset";
    private static readonly byte[] OpenComment = ": stream open\n\n"u8.ToArray();
    private static readonly byte[] HeartbeatComment = ": heartbeat\n\n"u8.ToArray();

    private enum Visibility { Visible, Hidden, Unknown }

    private PipeWriter _writer = null!;

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

        var cancellationToken = httpContext.RequestAborted;
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

        // The highest id handled so far, in this epoch: anything at or below it is a duplicate (the seam between
        // history and live). A stream that read no history takes the epoch of the first event it gets.
        var last = replay?.After.Id ?? 0;
        var epoch = replay?.Epoch;
        if (replay is { Complete: false })
        {
            last = 0;
            _writer.Write(SseFrame.Encode(ResetEventType,
                $$"""{"lastEventId":{{JsonSerializer.Serialize(replay.After.ToString())}},"epoch":{{JsonSerializer.Serialize(replay.Epoch)}},"sequence":{{replay.Sequence}},"reason":"The events after lastEventId are no longer kept; the whole history follows."}""",
                null));
        }

        foreach (var missed in replay?.Events ?? [])
        {
            if (missed.Id <= last)
            {
                continue;
            }
            last = missed.Id;
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
                epoch ??= live.Epoch;
                if (live.Epoch != epoch)
                {
                    // Redis lost its data under this stream: the client resumes with its Last-Event-ID and gets a reset.
                    logger.LogDebug("Notification stream of user {UserId} ends: epoch {Old} is now {New}.", viewer.UserId, epoch, live.Epoch);
                    ends = true;
                    break;
                }
                if (live.Id <= last)
                {
                    continue;
                }
                last = live.Id;
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

            // No token: a leaving client and the hub's timer wake this wait by a WakeUp, so it allocates nothing.
            if (cancellationToken.IsCancellationRequested || !await subscription.Events.WaitToReadAsync(CancellationToken.None))
            {
                // The subscription ended: slow client, events lost to this process, or shutdown. The client resumes.
                logger.LogDebug("Notification stream of user {UserId} ends: {Reason}.", viewer.UserId,
                    cancellationToken.IsCancellationRequested ? "the client left" : subscription.End);
                return;
            }
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
