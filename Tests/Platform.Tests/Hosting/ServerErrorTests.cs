using System.Net;
using Microsoft.Extensions.Logging;
using Platform.Hosting;
using Platform.Notifications;
using Platform.Sessions;
using Platform.Tests.Notifications;
using Platform.Tests.Redis;
using Platform.Tests.Sessions;
using StackExchange.Redis;

namespace Platform.Tests.Hosting;

/// <summary>
/// A reachable Redis that refuses work for a while (LOADING, BUSY, READONLY, MASTERDOWN, OOM) or stops answering (a
/// timeout) is an outage like an unreachable one: authenticated requests get 503 problem+json, the limiter fails open
/// (or closed if configured), and no background service stops its host. redis-server only: each fault needs
/// something Garnet does not serve (a script time limit and SCRIPT KILL, replication without cluster mode, a
/// loading delay, CLIENT PAUSE, maxmemory with noeviction).
/// </summary>
public sealed class ServerErrorTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [RedisServerFact("a script time limit, replication, a loading delay, CLIENT PAUSE, maxmemory")]
    public async Task EveryRefusalARealServerSendsAndATimeoutAreOutages()
    {
        await using var primary = await RedisServerProcess.StartNewAsync();
        await using var server = await RedisServerProcess.StartNewAsync();
        await using var admin = await ConnectAdminAsync(server);
        var refusals = new Dictionary<string, Exception>();

        await admin.GetServers()[0].ConfigSetAsync("maxmemory", "1");
        refusals["OOM"] = await FailureAsync(admin.GetDatabase().StringSetAsync("k", "v"));
        await admin.GetServers()[0].ConfigSetAsync("maxmemory", "0");

        await using (var busy = await StartBusyScriptAsync(server, admin))
        {
            refusals["BUSY"] = await FailureAsync(admin.GetDatabase().StringGetAsync("k"));
            await admin.GetServers()[0].ExecuteAsync("SCRIPT", "KILL");
        }

        await MakeReplicaAsync(admin, primary);
        refusals["READONLY"] = await FailureAsync(admin.GetDatabase().ExecuteAsync("SET", "k", "v"));
        await admin.GetServers()[0].ConfigSetAsync("replica-serve-stale-data", "no");
        await primary.KillAsync();
        refusals["MASTERDOWN"] = await EventuallyAsync(() => FailureAsync(admin.GetDatabase().ExecuteAsync("GET", "k")), "MASTERDOWN");

        await server.KillAsync();
        await WriteDatasetAsync(server, keys: 20_000);
        server.ExtraArguments.AddRange(["--key-load-delay", "100", "--loading-process-events-interval-bytes", "1024"]);
        await server.StartAsync(waitForDataset: false);
        await using (var loading = await ConnectAdminAsync(server))
        {
            refusals["LOADING"] = await FailureAsync(loading.GetDatabase().ExecuteAsync("GET", "k"));
        }

        await using (var paused = await ConnectAdminAsync(server, ",asyncTimeout=300,syncTimeout=300"))
        {
            await WaitUntilLoadedAsync(paused);
            await paused.GetServers()[0].ExecuteAsync("CLIENT", "PAUSE", "3000", "ALL");
            refusals["timeout"] = await FailureAsync(paused.GetDatabase().StringGetAsync("k"));
        }

        Assert.Collection(refusals,
            r => Assert.Equal("OOM", r.Key), r => Assert.Equal("BUSY", r.Key), r => Assert.Equal("READONLY", r.Key),
            r => Assert.Equal("MASTERDOWN", r.Key), r => Assert.Equal("LOADING", r.Key), r => Assert.Equal("timeout", r.Key));
        Assert.All(refusals, r => Assert.True(RedisOutage.IsOutage(r.Value), $"{r.Key}: {r.Value.GetType().Name}: {r.Value.Message}"));
        Assert.IsType<RedisTimeoutException>(refusals["timeout"]);
        Assert.False(RedisOutage.IsOutage(new RedisServerException("ERR wrong number of arguments")));
        Assert.False(RedisOutage.IsOutage(new RedisServerException("BUSYKEY Target key name already exists.")));
        // A command StackExchange.Redis cancelled when its connection failed carries no token; a caller's cancellation does.
        Assert.True(RedisOutage.IsOutage(new TaskCanceledException()));
        Assert.False(RedisOutage.IsOutage(new TaskCanceledException("aborted", null, new CancellationToken(canceled: true))));
    }

    [RedisServerFact("a script time limit, replication, a loading delay, CLIENT PAUSE, maxmemory")]
    public async Task WhileAScriptRunsTooLongRequestsGet503TheLimiterFailsOpenOrClosedAndNoHostStops()
    {
        await using var server = await RedisServerProcess.StartNewAsync();
        await using var admin = await ConnectAdminAsync(server);
        await using var host = await GatewayHost.StartAsync(server);
        await using var failClosed = await GatewayHost.StartAsync(server, new Dictionary<string, string?> { ["RateLimiting:FailClosed"] = "true" });
        var token = await SignInAsync(host, "u-busy");
        Assert.Equal(HttpStatusCode.OK, (await AnswerAsync(host, HttpMethod.Get, "/api/whoami", token)).Status);

        await using (await StartBusyScriptAsync(server, admin))
        {
            await AssertOutageAsync(host, token);
            Assert.Equal((HttpStatusCode.ServiceUnavailable, "application/problem+json"), await AnswerAsync(failClosed, HttpMethod.Get, "/api/ping"));
            await admin.GetServers()[0].ExecuteAsync("SCRIPT", "KILL");
        }

        Assert.Equal(HttpStatusCode.OK, (await AnswerAsync(host, HttpMethod.Get, "/api/whoami", token)).Status);
        AssertRunning(host);
        AssertRunning(failClosed);
    }

    [RedisServerFact("a script time limit, replication, a loading delay, CLIENT PAUSE, maxmemory")]
    public async Task OnARedisDemotedToReplicaWritesGet503AndTheLimiterFailsOpen()
    {
        await using var primary = await RedisServerProcess.StartNewAsync();
        await using var server = await RedisServerProcess.StartNewAsync();
        await using var admin = await ConnectAdminAsync(server);
        await using var host = await GatewayHost.StartAsync(server);
        // The session lives on the primary too, so the replica still has it after its first sync.
        await using var toPrimary = await ConnectAdminAsync(primary);
        var token = (await SessionStoreFactory.Create(toPrimary).CreateAsync(SessionStoreFactory.NewUser(), "tests")).Token;

        // A failover demoted the server this service talks to: it answers READONLY to every write (a session
        // touch, a limiter decision, a sign-in).
        await MakeReplicaAsync(admin, primary);
        await AssertOutageAsync(host, token);
        AssertRunning(host);
    }

    [RedisServerFact("a script time limit, replication, a loading delay, CLIENT PAUSE, maxmemory")]
    public async Task WhileRedisLoadsItsDataRequestsGet503AndANotifierStartedMeanwhileComesUpOnceItIsReady()
    {
        await using var server = await RedisServerProcess.StartNewAsync();
        await using (var admin = await ConnectAdminAsync(server))
        {
            await admin.GetDatabase().ExecuteAsync("SET", "probe", "1");
        }
        await using var host = await GatewayHost.StartAsync(server);
        var token = await SignInAsync(host, "u-loading");
        await server.KillAsync();
        await WriteDatasetAsync(server, keys: 40_000);
        server.ExtraArguments.AddRange(["--key-load-delay", "100", "--loading-process-events-interval-bytes", "1024"]);

        await server.StartAsync(waitForDataset: false);
        await using var notifier = await NotifierHost.StartAsync(server.ConnectionString, new FakeMembership());
        await using var watcher = await ConnectAdminAsync(server);
        Assert.StartsWith("LOADING", (await FailureAsync(watcher.GetDatabase().ExecuteAsync("GET", "probe"))).Message);
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "application/problem+json"), await AnswerAsync(host, HttpMethod.Post, "/auth/sign-in?user=u2"));
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "application/problem+json"), await AnswerAsync(host, HttpMethod.Get, "/api/whoami", token));

        await WaitUntilLoadedAsync(watcher);
        var streamToken = await notifier.SignInAsync("u-stream");
        await using var stream = await EventuallyAsync(() => SseClient.ConnectAsync(notifier.Client, streamToken), "the notifier's stream");
        var id = await notifier.Publisher.PublishAsync(NotificationChannels.SystemAlert, new { message = "ready", severity = "info" });
        Assert.Equal(id, Assert.Single(await stream.ReadEventsAsync(1)).Id);
        Assert.False(notifier.Hub.ExecuteTask!.IsCompleted, "the notifier's hub stopped");
        AssertRunning(host);
    }

    [RedisServerFact("a script time limit, replication, a loading delay, CLIENT PAUSE, maxmemory")]
    public async Task ATimeoutWhileCountingSessionsDoesNotStopTheSampler()
    {
        await using var server = await RedisServerProcess.StartNewAsync();
        await using var admin = await ConnectAdminAsync(server);
        await using var connection = await ConnectAdminAsync(server, ",asyncTimeout=300,syncTimeout=300");
        var logger = new FailureLogger();
        using var sampler = new ActiveSessionsSampler(connection, new SessionTelemetry(TestMeters.Factory), logger);

        await admin.GetServers()[0].ExecuteAsync("CLIENT", "PAUSE", "3000", "ALL");
        await sampler.StartAsync(CancellationToken.None);
        await EventuallyAsync(() => Task.FromResult(logger.Failures > 0 || sampler.ExecuteTask!.IsCompleted ? true : throw new InvalidOperationException("still waiting")), "a sample");

        Assert.False(sampler.ExecuteTask!.IsFaulted, $"the sampler died: {sampler.ExecuteTask.Exception?.InnerException}");
        await sampler.StopAsync(CancellationToken.None);
    }

    private static async Task AssertOutageAsync(GatewayHost host, string token)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "application/problem+json"), await AnswerAsync(host, HttpMethod.Get, "/api/whoami", token));
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "application/problem+json"), await AnswerAsync(host, HttpMethod.Post, "/auth/sign-in?user=u-new"));
        // Anonymous, so only the limiter needs Redis: it lets the request through.
        Assert.Equal(HttpStatusCode.OK, (await AnswerAsync(host, HttpMethod.Get, "/api/ping")).Status);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(6), $"three answers took {clock.Elapsed}");
    }

    private static void AssertRunning(GatewayHost host)
    {
        Assert.False(host.Lifetime.ApplicationStopping.IsCancellationRequested, "the host is stopping");
        Assert.All(host.BackgroundServices, s => Assert.False(s.ExecuteTask?.IsFaulted ?? false, $"{s.GetType().Name} failed"));
    }

    private static async Task<string> SignInAsync(GatewayHost host, string user)
    {
        using var response = await host.Client.PostAsync($"/auth/sign-in?user={user}", null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    private static async Task<(HttpStatusCode Status, string? MediaType)> AnswerAsync(GatewayHost host, HttpMethod method, string path, string? token = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new("Bearer", token);
        }
        using var response = await host.Client.SendAsync(request);
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType);
    }

    private static Task<ConnectionMultiplexer> ConnectAdminAsync(RedisServerProcess server, string options = "") =>
        ConnectionMultiplexer.ConnectAsync($"{server.ConnectionString},allowAdmin=true{options}");

    private static async Task<Exception> FailureAsync(Task operation)
    {
        try
        {
            await operation;
        }
        catch (Exception e)
        {
            return e;
        }
        throw new InvalidOperationException("The command succeeded; the fault was expected to refuse it.");
    }

    /// <summary>A script that never ends, on a connection of its own; once the server answers BUSY. Disposing drops that connection.</summary>
    private static async Task<IAsyncDisposable> StartBusyScriptAsync(RedisServerProcess server, ConnectionMultiplexer admin)
    {
        await admin.GetServers()[0].ConfigSetAsync("busy-reply-threshold", "50");
        var looping = await ConnectionMultiplexer.ConnectAsync($"{server.ConnectionString},syncTimeout=60000,asyncTimeout=60000");
        await looping.GetDatabase().ScriptEvaluateAsync("while true do end", flags: CommandFlags.FireAndForget);
        await EventuallyAsync(async () => (await FailureAsync(admin.GetDatabase().PingAsync())).Message.StartsWith("BUSY", StringComparison.Ordinal)
            ? true : throw new InvalidOperationException("not busy yet"), "BUSY");
        return looping;
    }

    private static async Task MakeReplicaAsync(ConnectionMultiplexer admin, RedisServerProcess primary)
    {
        await admin.GetServers()[0].ConfigSetAsync("masterauth", primary.Password);
        await admin.GetServers()[0].ExecuteAsync("REPLICAOF", "127.0.0.1", primary.Port.ToString());
        await EventuallyAsync(async () => ((string?)await admin.GetServers()[0].ExecuteAsync("INFO", "replication"))!.Contains("master_link_status:up")
            ? true : throw new InvalidOperationException("not synced yet"), "the replica's sync");
    }

    /// <summary>Writes <paramref name="keys"/> keys and saves them to dump.rdb, which the next start reads (slowly, with a load delay).</summary>
    private static async Task WriteDatasetAsync(RedisServerProcess server, int keys)
    {
        await server.StartAsync();
        await using var admin = await ConnectAdminAsync(server);
        await admin.GetDatabase().ScriptEvaluateAsync($"for i = 1, {keys} do redis.call('SET', 'filler:' .. i, 'x') end return 1");
        await admin.GetServers()[0].ExecuteAsync("SAVE");
        await server.KillAsync();
    }

    private static Task WaitUntilLoadedAsync(ConnectionMultiplexer connection) =>
        EventuallyAsync(async () => await connection.GetDatabase().PingAsync(), "the end of loading");

    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> attempt, string what)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            try
            {
                return await attempt();
            }
            catch (Exception) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
        throw new TimeoutException(what);
    }

    private sealed class FailureLogger : ILogger<ActiveSessionsSampler>
    {
        private int _failures;
        public int Failures => Volatile.Read(ref _failures);
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (formatter(state, exception).StartsWith("Could not count", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _failures);
            }
        }
    }
}
