using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Hosting;
using StackExchange.Redis;

namespace Platform.Notifications;

/// <summary>
/// The process's one Redis subscription, fanned out in process to every connected client.
/// <para>
/// One loop handles every message in id order. Ids come from one global sequence and PUBLISH delivers them in
/// that order, so a jump (n, then n+2) means this process missed an event: the loop reads the history after the
/// last id it handled and delivers what it missed before going on. After a dropped connection (the client
/// re-subscribes by itself) it does the same at once, so events published during the outage arrive even when
/// nothing follows them. If they were trimmed from the history every client is ended instead, and resumes with its
/// Last-Event-ID: it then gets a <c>reset</c> if it could have seen one of them, never a silent hole.
/// </para>
/// <para>
/// Ids count within an epoch, a random token that a Redis which lost its data replaces. A message of another epoch
/// (Redis came back empty, or was flushed, with or without a dropped connection) makes the loop deliver the new
/// epoch's history from its first event; a stream of the old epoch ends at it, and its client resumes with its
/// Last-Event-ID of the old epoch: a <c>reset</c>, then the new epoch's history.
/// </para>
/// </summary>
public sealed class NotificationHub : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    private readonly IConnectionMultiplexer _redis;
    private readonly NotificationHistory _history;
    private readonly NotificationTelemetry _telemetry;
    private readonly IOptions<NotificationStreamOptions> _options;
    private readonly ILogger<NotificationHub> _logger;

    // Live messages and "catch up now" markers (null), handled one at a time, in arrival order.
    private readonly Channel<string?> _inbox = Channel.CreateUnbounded<string?>(new UnboundedChannelOptions { SingleReader = true });
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private NotificationSubscription[] _subscriptions = [];
    private string _epoch = "";
    private long _lastSeen;
    private volatile bool _catchUpNeeded;
    private long _slowClientDrops;
    private long _recovered;

    public NotificationHub(IConnectionMultiplexer redis, NotificationHistory history, NotificationTelemetry telemetry,
        IOptions<NotificationStreamOptions> options, IHostApplicationLifetime lifetime, ILogger<NotificationHub> logger)
    {
        _redis = redis;
        _history = history;
        _telemetry = telemetry;
        _options = options;
        _logger = logger;
        _redis.ConnectionFailed += (_, _) => _catchUpNeeded = true;
        _redis.ConnectionRestored += (_, _) => _inbox.Writer.TryWrite(null);
        // Streams never end by themselves: end them when shutdown begins, or the server waits out its shutdown timeout.
        lifetime.ApplicationStopping.Register(() => CloseAll(SubscriptionEnd.Shutdown));
    }

    /// <summary>Clients subscribed in this process now.</summary>
    public int ConnectedClients => Volatile.Read(ref _subscriptions).Length;

    /// <summary>Clients this process dropped because their buffer was full (also the metric <c>notifications.slow_client_drops</c>).</summary>
    public long SlowClientDrops => Interlocked.Read(ref _slowClientDrops);

    /// <summary>Events this process missed on pub/sub and delivered from the history (also the metric <c>notifications.recovered</c>).</summary>
    public long RecoveredEvents => Interlocked.Read(ref _recovered);

    /// <summary>
    /// Adds a client. Every event this process handles from now on reaches its buffer, so a caller that subscribes
    /// first and reads the history second misses nothing in between (and skips what it sees twice, by id).
    /// Returns null if the process has no Redis subscription yet after <see cref="NotificationStreamOptions.SubscriptionWait"/>.
    /// </summary>
    public async Task<NotificationSubscription?> SubscribeAsync(Action? onSlowClient, CancellationToken cancellationToken)
    {
        try
        {
            await _ready.Task.WaitAsync(_options.Value.SubscriptionWait, cancellationToken);
        }
        catch (TimeoutException)
        {
            return null;
        }

        var subscription = new NotificationSubscription(this, _options.Value.ClientBufferSize, onSlowClient);
        lock (_gate)
        {
            _subscriptions = [.. _subscriptions, subscription];
        }
        _telemetry.ConnectedClients.Add(1);
        return subscription;
    }

    internal void Remove(NotificationSubscription subscription)
    {
        lock (_gate)
        {
            var index = Array.IndexOf(_subscriptions, subscription);
            if (index < 0)
            {
                return;
            }
            _subscriptions = [.. _subscriptions[..index], .. _subscriptions[(index + 1)..]];
        }
        subscription.Close(SubscriptionEnd.Shutdown);
        _telemetry.ConnectedClients.Add(-1);
    }

    /// <summary>
    /// How often idle streams are woken to check their heartbeat and session deadlines: a quarter of the shorter
    /// interval, at most a second, so each is met within that much.
    /// </summary>
    internal TimeSpan WakeInterval
    {
        get
        {
            var options = _options.Value;
            var shorter = options.HeartbeatInterval < options.SessionRevalidationInterval ? options.HeartbeatInterval : options.SessionRevalidationInterval;
            return TimeSpan.FromTicks(Math.Clamp(shorter.Ticks / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond));
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var stopWaking = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var waking = WakeIdleStreamsAsync(stopWaking.Token);
        try
        {
            await DeliverAsync(stoppingToken);
        }
        finally
        {
            await stopWaking.CancelAsync();
            await waking;
        }
    }

    // One timer for the process instead of one per stream: a stream's wait for its next event then needs none.
    private async Task WakeIdleStreamsAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(WakeInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                foreach (var subscription in Volatile.Read(ref _subscriptions))
                {
                    subscription.Wake();
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task DeliverAsync(CancellationToken stoppingToken)
    {
        await SubscribeToRedisAsync(stoppingToken);
        try
        {
            await foreach (var message in _inbox.Reader.ReadAllAsync(stoppingToken))
            {
                try
                {
                    if (message is null || _catchUpNeeded)
                    {
                        await CatchUpAsync();
                    }
                    if (message is not null)
                    {
                        await HandleAsync(NotificationEvent.Parse(message));
                    }
                }
                catch (Exception e) when (RedisOutage.IsOutage(e))
                {
                    // The history could not be read: try again shortly. Nothing is delivered out of order meanwhile;
                    // what is missed now comes from the history then.
                    _catchUpNeeded = true;
                    _logger.LogWarning("Notifications: catching up from the history failed ({Message}); retrying in {Delay}.", e.Message, RetryDelay);
                    _ = Task.Delay(RetryDelay, stoppingToken).ContinueWith(_ => _inbox.Writer.TryWrite(null), TaskScheduler.Default);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A message that is not an event, or a bug: never let it stop the loop (and with it every stream).
                    // The next message catches up from the history, so nothing valid is skipped.
                    _catchUpNeeded = true;
                    _logger.LogError(e, "Notifications: could not handle a message.");
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            CloseAll(SubscriptionEnd.Shutdown);
        }
    }

    private void CloseAll(SubscriptionEnd reason)
    {
        foreach (var subscription in Volatile.Read(ref _subscriptions))
        {
            subscription.Close(reason);
        }
    }

    private async Task SubscribeToRedisAsync(CancellationToken stoppingToken)
    {
        var subscribed = false;
        while (true)
        {
            try
            {
                if (!subscribed)
                {
                    var queue = await _redis.GetSubscriber().SubscribeAsync(NotificationKeys.LiveChannel.For(_redis));
                    // OnMessage runs the handler for one message at a time, in the order Redis sent them.
                    queue.OnMessage(message => { _inbox.Writer.TryWrite(message.Message!); });
                    subscribed = true;
                }
                // Anything up to here is already history: clients read it themselves after subscribing.
                var position = await _history.ReadPositionAsync();
                (_epoch, _lastSeen) = (position.Epoch!, position.Id);
                _catchUpNeeded = false;
                _ready.TrySetResult();
                _logger.LogInformation("Notifications: subscribed to {Channel} after event {Id}.", NotificationKeys.Live, position);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // An outage (unreachable, LOADING after a restart, a timeout) or anything else: an exception leaving
                // ExecuteAsync would stop the notifier. Streams answer 503 until this succeeds.
                _logger.LogWarning("Notifications: cannot subscribe yet ({Message}); retrying in {Delay}.", e.Message, RetryDelay);
                await Task.Delay(RetryDelay, stoppingToken);
            }
        }
    }

    private async Task HandleAsync(NotificationEvent notification)
    {
        if (notification.Epoch != _epoch)
        {
            // Redis lost its data (a new epoch), or this is a message from before a loss this loop already caught up
            // with: the history says which.
            await CatchUpAsync();
            if (notification.Epoch != _epoch)
            {
                return;
            }
        }
        if (notification.Id > _lastSeen + 1)
        {
            await CatchUpAsync();
        }
        if (notification.Id > _lastSeen)
        {
            Dispatch(notification);
            _lastSeen = notification.Id;
        }
    }

    private async Task CatchUpAsync()
    {
        _catchUpNeeded = false;
        var read = await _history.ReadSinceAsync(new EventPosition(_epoch, _lastSeen), NotificationChannels.All);
        if (read.Epoch != _epoch)
        {
            // Redis lost its data. Streams of the old epoch end at the first event of the new one and resume (reset);
            // streams that have no epoch yet get the new epoch's events from its first.
            _logger.LogWarning("Notifications: Redis lost its data (epoch {Old} is now {New}, at event {Sequence}).",
                _epoch, read.Epoch, read.Sequence);
            (_epoch, _lastSeen) = (read.Epoch, 0);
            read = await _history.ReadSinceAsync(new EventPosition(_epoch, 0), NotificationChannels.All);
        }
        if (!read.Complete)
        {
            _logger.LogWarning("Notifications: events after {Id} are no longer in the history (sequence now {Sequence}); every client resumes.",
                _lastSeen, read.Sequence);
            CloseAll(SubscriptionEnd.EventsLost);
            _lastSeen = read.Sequence;
            return;
        }

        foreach (var missed in read.Events)
        {
            if (missed.Id > _lastSeen)
            {
                Dispatch(missed);
                _lastSeen = missed.Id;
                Interlocked.Increment(ref _recovered);
                _telemetry.Recovered.Add(1);
            }
        }
        // Every id up to the sequence was in that snapshot: later messages for them are duplicates.
        _lastSeen = Math.Max(_lastSeen, read.Sequence);
    }

    private void Dispatch(NotificationEvent notification)
    {
        ActivityContext.TryParse(notification.Traceparent, null, out var parent);
        using var span = NotificationTelemetry.Source.StartActivity($"notify deliver {notification.Type}", ActivityKind.Consumer, parent);
        var subscriptions = Volatile.Read(ref _subscriptions);
        // Encoded here, once for the process: every stream writes these same bytes.
        _ = notification.Frame;
        var dropped = 0;
        foreach (var subscription in subscriptions)
        {
            if (subscription.End == SubscriptionEnd.None && !subscription.TryDeliver(notification))
            {
                dropped++;
            }
        }
        if (dropped > 0)
        {
            Interlocked.Add(ref _slowClientDrops, dropped);
            _telemetry.SlowClientDrops.Add(dropped);
        }
        span?.SetTag("notification.id", notification.Id);
        span?.SetTag("notification.clients", subscriptions.Length);
    }

    public override void Dispose()
    {
        _inbox.Writer.TryComplete();
        base.Dispose();
    }
}
