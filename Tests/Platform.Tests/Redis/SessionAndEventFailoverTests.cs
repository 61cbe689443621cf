using System.Collections.Concurrent;
using System.Diagnostics;
using Platform.Hosting;
using Platform.Notifications;
using Platform.Sessions;
using Platform.Tests.Sessions;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Platform.Tests.Redis;

/// <summary>
/// What a failover does to sessions and events: under load (sign-ins, validations and publishes, a few loops of each),
/// the master that holds the notification history and the sessions of the users signing in is SIGKILLed, with several
/// calls of each in flight; its replica
/// is promoted and the killed node started again. Replication is asynchronous and neither is replica-acknowledged, so
/// what was lost is counted and reported, not asserted away. Asserted: every failure during it is a Redis outage (a
/// 503 for a service, never a 500), and every operation works again by itself after the promotion.
/// </summary>
[NeedsRedisCluster]
public sealed class SessionAndEventFailoverTests(ITestOutputHelper output)
{
    // Every channel, in turn, at most 90 each: under the history's 100 per channel, so what is missing was lost, not trimmed.
    private static readonly IReadOnlyList<string> Channels = NotificationChannels.All;
    private static readonly int MaxPublishes = 90 * Channels.Count;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan LoadBeforeKill = TimeSpan.FromSeconds(2);
    private const int SignInLoops = 4;
    private static readonly TimeSpan LoadAfterPromotion = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task AFailoverUnderLoadIsSurvivedAndWhatItLosesOfSessionsAndEventsIsCounted()
    {
        await using var cluster = await RedisClusterProcess.StartNewAsync();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(
            $"{cluster.ConnectionString},abortConnect=false,connectTimeout=1000,syncTimeout=1000,asyncTimeout=1000",
            options => options.BacklogPolicy = BacklogPolicy.FailFast);
        // No cap per user in the way: every session that stops validating was lost, not evicted by newer ones.
        var sessions = SessionStoreFactory.Create(connection, new SessionStoreOptions { MaxSessionsPerUser = 1_000_000 });
        var publisher = new NotificationPublisher(connection, new NotificationTelemetry(TestMeters.Factory));
        var history = new NotificationHistory(connection);
        var failover = await ClusterFailover.OfMasterServingAsync(cluster, connection, NotificationKeys.History(Channels[0]));
        var users = new List<SessionUser>();
        while (users.Count < 20)
        {
            var user = SessionStoreFactory.NewUser();
            if ((await cluster.MasterOfAsync(connection, SessionKeys.Index(user.UserId))).Port == failover.Master.Port)
            {
                users.Add(user);
            }
        }

        var load = new Load(failover);
        using var stop = new CancellationTokenSource();
        var signIns = load.RunAsync("sign-in", SignInLoops, async n =>
        {
            var created = await sessions.CreateAsync(users[n % users.Count], "failover-test");
            load.Sessions.Enqueue((created.Token, load.KilledYet));
            return true;
        }, stop.Token);
        var validations = load.RunAsync("validate", 2, async n =>
        {
            if (load.Sessions.ElementAtOrDefault(n % Math.Max(1, load.Sessions.Count)) is not { Token: { } token })
            {
                return false;
            }
            await sessions.ValidateAsync(token);
            return true;
        }, stop.Token);
        var publishes = load.RunAsync("publish", 2, async n =>
        {
            await Task.Delay(40);
            if (load.Published.Count >= MaxPublishes)
            {
                return false;
            }
            var published = await publisher.PublishOnceAsync(Channels[n % Channels.Count], new { seq = n }, dedupeKey: null);
            load.Published.Enqueue((published, n, load.KilledYet));
            return true;
        }, stop.Token);

        await Task.Delay(LoadBeforeKill);
        await failover.KillAsync();
        await failover.WaitForPromotionAsync(Deadline);
        await Task.Delay(LoadAfterPromotion);
        await OperationsRecoveredAsync(load);
        await stop.CancelAsync();
        await Task.WhenAll(signIns, validations, publishes).WaitAsync(Deadline);
        await cluster.WaitUntilHealthyAsync(Deadline);

        // Counted once the cluster is whole again: a session that no longer validates, a publish whose event is not in
        // the history (or whose id now names another event).
        var lostSessions = new List<bool>();
        foreach (var (token, afterKill) in load.Sessions)
        {
            if (await sessions.ValidateAsync(token) is null)
            {
                lostSessions.Add(afterKill);
            }
        }
        var read = await history.ReadSinceAsync(new EventPosition(null, 0), Channels);
        var kept = read.Events.ToDictionary(e => (e.Epoch, e.Id));
        var lostEvents = load.Published.Where(p => !kept.TryGetValue((p.Event.Epoch, p.Event.Id), out var e) || !e.Json.Contains($"\"seq\":{p.Seq}}}")).ToList();
        var reused = lostEvents.Count(p => kept.ContainsKey((p.Event.Epoch, p.Event.Id)));
        // A reader whose last event was the last one published before the kill resumes from it (Last-Event-ID).
        var lastBefore = load.Published.LastOrDefault(p => !p.AfterKill).Event;
        var resume = lastBefore is null ? null : await history.ReadSinceAsync(new EventPosition(lastBefore.Epoch, lastBefore.Id), Channels);
        var resumedAfterKill = load.Published.Where(p => p.AfterKill).Select(p => p.Event.Id).ToHashSet();

        output.WriteLine($"Master {failover.Master.Port} (notification history and {users.Count} users' sessions) killed after {LoadBeforeKill.TotalSeconds:F0} s of load " +
                         $"({SignInLoops} sign-in, 2 validation and 2 publish loops); replica promoted {failover.Promotion?.TotalSeconds:F1} s after the kill.");
        output.WriteLine($"  at the kill: {failover.StateAtKill}");
        foreach (var operation in load.Operations.Values)
        {
            output.WriteLine($"  {operation.Name}: {operation.Done} done, {operation.Refused} refused as outages; unavailable {operation.Unavailable?.TotalSeconds:F1} s after the kill");
        }
        output.WriteLine($"  sessions acknowledged {load.Sessions.Count} ({load.Sessions.Count(s => !s.AfterKill)} before the kill); " +
                         $"no longer valid {lostSessions.Count} ({lostSessions.Count(afterKill => !afterKill)} created before the kill)");
        output.WriteLine($"  publishes acknowledged {load.Published.Count} ({load.Published.Count(p => !p.AfterKill)} before the kill); " +
                         $"missing from the history {lostEvents.Count} ({lostEvents.Count(p => !p.AfterKill)} before the kill), of which their id now names another event {reused}");
        output.WriteLine($"  resume from the last event before the kill: {(resume is null ? "no event before the kill" : $"{(resume.Complete ? "complete" : "start over")}, " +
                         $"{resume.Events.Count(e => resumedAfterKill.Contains(e.Id))} of {resumedAfterKill.Count} events published after the kill returned")}");
        foreach (var unexpected in load.Unexpected.Take(5))
        {
            output.WriteLine($"  unexpected: {unexpected}");
        }

        Assert.Empty(load.Unexpected);
        Assert.All(load.Operations.Values, o => Assert.True(o.RecoveredAfter(failover.Promotion!.Value), $"{o.Name} did not work again after the promotion"));
    }

    /// <summary>Waits until every operation has succeeded since the promotion (they recover by themselves).</summary>
    private static Task OperationsRecoveredAsync(Load load) =>
        Platform.Tests.Jobs.JobQueueTests.WaitUntilAsync(
            () => Task.FromResult(load.Operations.Values.All(o => o.RecoveredAfter(load.Failover.Promotion!.Value))), Deadline, "every operation to work again");

    /// <summary>Sequential loops of one operation each, timed against the kill: a failure must be an outage.</summary>
    private sealed class Load(ClusterFailover failover)
    {
        public ClusterFailover Failover => failover;
        public ConcurrentDictionary<string, Operation> Operations { get; } = new();
        public ConcurrentQueue<(string Token, bool AfterKill)> Sessions { get; } = new();
        public ConcurrentQueue<(PublishedNotification Event, int Seq, bool AfterKill)> Published { get; } = new();
        public ConcurrentQueue<string> Unexpected { get; } = new();
        public bool KilledYet => failover.SinceKill > TimeSpan.Zero;

        /// <summary><paramref name="call"/> answers whether it asked Redis anything.</summary>
        public Task RunAsync(string name, int loops, Func<int, Task<bool>> call, CancellationToken stop)
        {
            var operation = Operations[name] = new Operation(name);
            var next = -1;
            return Task.WhenAll(Enumerable.Range(0, loops).Select(_ => Task.Run(async () =>
            {
                for (var n = Interlocked.Increment(ref next); !stop.IsCancellationRequested; n = Interlocked.Increment(ref next))
                {
                    try
                    {
                        if (await call(n))
                        {
                            operation.Succeeded(failover.SinceKill);
                        }
                    }
                    catch (Exception e) when (RedisOutage.IsOutage(e))
                    {
                        operation.Refuse();
                        await Task.Delay(50, CancellationToken.None);
                    }
                    catch (Exception e)
                    {
                        Unexpected.Enqueue($"{name}: {e.GetType().Name}: {e.Message}");
                        await Task.Delay(50, CancellationToken.None);
                    }
                }
            }, CancellationToken.None)));
        }
    }

    private sealed class Operation(string name)
    {
        private readonly Lock _lock = new();
        private TimeSpan? _firstAfterKill;
        private TimeSpan _last;
        private int _done, _refused;

        public string Name => name;
        public int Done => Volatile.Read(ref _done);
        public int Refused => Volatile.Read(ref _refused);

        /// <summary>From the kill to its first success after it.</summary>
        public TimeSpan? Unavailable
        {
            get { lock (_lock) { return _firstAfterKill; } }
        }

        public void Refuse() => Interlocked.Increment(ref _refused);

        public void Succeeded(TimeSpan sinceKill)
        {
            Interlocked.Increment(ref _done);
            lock (_lock)
            {
                _last = sinceKill > _last ? sinceKill : _last;
                if (sinceKill > TimeSpan.Zero && _firstAfterKill is null)
                {
                    _firstAfterKill = sinceKill;
                }
            }
        }

        public bool RecoveredAfter(TimeSpan promotion)
        {
            lock (_lock)
            {
                return _last > promotion;
            }
        }
    }
}
