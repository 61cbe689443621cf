using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Platform.Hosting;
using Platform.Sessions;

namespace Platform.Notifications;

/// <summary>
/// One client's stream: the events it missed (from the history), then live ones from its subscription, each at most
/// once and in id order, filtered by what the viewer may see; heartbeat comments while idle; the session checked
/// again every <see cref="NotificationStreamOptions.SessionRevalidationInterval"/>, ending the stream once revoked, and
/// its stream slot renewed at the same time.
/// </summary>
internal sealed class NotificationStream(
    HttpContext context,
    NotificationSubscription subscription,
    StreamSlot slot,
    HistoryRead? replay,
    NotificationViewer viewer,
    NotificationAccess access,
    SessionStore sessions,
    NotificationStreamOptions options,
    NotificationTelemetry telemetry,
    ILogger logger)
{
    public const string ResetEventType = "reset";
    private static readonly byte[] OpenComment = ": stream open\n\n"u8.ToArray();
    private static readonly byte[] HeartbeatComment = ": heartbeat\n\n"u8.ToArray();

    private enum Visibility { Visible, Hidden, Unknown }

    private CancellationTokenSource? _timer;

    public async IAsyncEnumerable<SseItem<string>> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var leave = subscription;
        using var disposeTimer = new TimerDisposal(this);
        // Sends the headers now, so a client knows the stream is open before the first event.
        await WriteCommentAsync(OpenComment, cancellationToken);

        // The highest id handled so far, in this epoch: anything at or below it is a duplicate (the seam between
        // history and live). A stream that read no history takes the epoch of the first event it gets.
        var last = replay?.After.Id ?? 0;
        var epoch = replay?.Epoch;
        if (replay is { Complete: false })
        {
            last = 0;
            yield return new SseItem<string>(
                $$"""{"lastEventId":{{JsonSerializer.Serialize(replay.After.ToString())}},"epoch":{{JsonSerializer.Serialize(replay.Epoch)}},"sequence":{{replay.Sequence}},"reason":"The events after lastEventId are no longer kept; the whole history follows."}""",
                ResetEventType);
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
                yield break;
            }
            if (visibility == Visibility.Visible)
            {
                yield return Item(missed);
            }
        }

        var heartbeatAt = DateTime.UtcNow + options.HeartbeatInterval;
        var revalidateAt = DateTime.UtcNow + options.SessionRevalidationInterval;
        while (true)
        {
            while (subscription.Events.TryRead(out var live))
            {
                epoch ??= live.Epoch;
                if (live.Epoch != epoch)
                {
                    // Redis lost its data under this stream: the client resumes with its Last-Event-ID and gets a reset.
                    logger.LogDebug("Notification stream of user {UserId} ends: epoch {Old} is now {New}.", viewer.UserId, epoch, live.Epoch);
                    yield break;
                }
                if (live.Id <= last)
                {
                    continue;
                }
                last = live.Id;
                var visibility = await VisibilityAsync(live, cancellationToken);
                if (visibility == Visibility.Unknown)
                {
                    yield break;
                }
                if (visibility == Visibility.Visible)
                {
                    yield return Item(live);
                }
            }

            var now = DateTime.UtcNow;
            if (now >= revalidateAt)
            {
                if (!await SessionIsLiveAsync())
                {
                    yield break;
                }
                revalidateAt = now + options.SessionRevalidationInterval;
            }
            if (now >= heartbeatAt)
            {
                await WriteCommentAsync(HeartbeatComment, cancellationToken);
                heartbeatAt = now + options.HeartbeatInterval;
            }

            var wait = (heartbeatAt < revalidateAt ? heartbeatAt : revalidateAt) - now;
            if (await WaitForEventsAsync(wait, cancellationToken) == false)
            {
                // The subscription ended: slow client, events lost to this process, or shutdown. The client resumes.
                logger.LogDebug("Notification stream of user {UserId} ends: {Reason}.", viewer.UserId, subscription.End);
                yield break;
            }
        }
    }

    private SseItem<string> Item(NotificationEvent notification)
    {
        telemetry.Delivered.Add(1, new KeyValuePair<string, object?>("type", notification.Type));
        telemetry.DeliveryLatency.Record((DateTimeOffset.UtcNow - notification.Timestamp).TotalMilliseconds,
            new KeyValuePair<string, object?>("type", notification.Type));
        return new SseItem<string>(notification.Json, notification.Type) { EventId = notification.EventId };
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

    /// <returns>true: events are waiting; false: the subscription ended; null: <paramref name="timeout"/> passed.</returns>
    private async Task<bool?> WaitForEventsAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        // One timer source per stream, reset after each wait that ends before it fires: a busy stream waits once per
        // event, and a new linked source (and timer) every time costs more than the write it waits for.
        _timer ??= CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _timer.CancelAfter(timeout > TimeSpan.Zero ? timeout : TimeSpan.Zero);
        try
        {
            var ready = await subscription.Events.WaitToReadAsync(_timer.Token);
            if (!_timer.TryReset())
            {
                DisposeTimer();
            }
            return ready;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            DisposeTimer();
            return null;
        }
    }

    private void DisposeTimer()
    {
        _timer?.Dispose();
        _timer = null;
    }

    private readonly struct TimerDisposal(NotificationStream stream) : IDisposable
    {
        public void Dispose() => stream.DisposeTimer();
    }

    // SseFormatter writes no comments, so they go straight to the body. Safe here: the formatter writes and flushes
    // each item before it asks this iterator for the next, so the body is idle whenever this code runs.
    private async Task WriteCommentAsync(byte[] comment, CancellationToken cancellationToken)
    {
        await context.Response.Body.WriteAsync(comment, cancellationToken);
        await context.Response.Body.FlushAsync(cancellationToken);
    }
}
