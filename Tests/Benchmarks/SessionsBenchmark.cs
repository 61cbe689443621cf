using Platform.Tests;
using System.Text.Json;
using Benchmarks.Harness;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Options;
using Platform.Sessions;

namespace Benchmarks;

/// <summary>
/// Session validation (two plain reads sent together, or the validate script when a touch is due) beside the ASP.NET Core distributed-session pattern on
/// Microsoft.Extensions.Caching.StackExchangeRedis (what <c>AddSession</c> + <c>AddStackExchangeRedisCache</c> does
/// per request: <c>GetAsync</c> to load, <c>RefreshAsync</c> to slide the expiry), with the same lifetimes (idle and
/// absolute), the same session count and the same round-robin order, in alternating rounds.
/// </summary>
public static class SessionsBenchmark
{
    public const string Name = "sessions";
    private static readonly int[] Concurrency = [16, 64];
    private const int Sessions = 1000;

    public static async Task RunAsync(BenchmarkContext context)
    {
        var defaults = new SessionStoreOptions();
        SessionStore Store(TimeSpan touch) => new(context.Redis,
            Options.Create(new SessionStoreOptions { TouchInterval = touch }), new SessionTelemetry(TestMeters.Factory));

        var throttled = Store(defaults.TouchInterval);
        var everyCall = Store(TimeSpan.Zero);
        var tokens = new List<string>();
        for (var i = 0; i < Sessions; i++)
        {
            var user = new SessionUser((i % 100 + 1).ToString(), $"user{i}@example.com", "Bench", ["user"], "user");
            tokens.Add((await throttled.CreateAsync(user, "bench")).Token);
        }

        var cache = new RedisCache(Options.Create(new RedisCacheOptions
        {
            ConnectionMultiplexerFactory = () => Task.FromResult(context.Redis),
            InstanceName = "peer-session:",
        }));
        var entry = new DistributedCacheEntryOptions
        {
            SlidingExpiration = defaults.IdleTimeout,
            AbsoluteExpirationRelativeToNow = defaults.AbsoluteTimeout,
        };
        var peerKeys = new List<string>();
        for (var i = 0; i < Sessions; i++)
        {
            // What a session holds for the app: the same user fields ours returns.
            var payload = JsonSerializer.SerializeToUtf8Bytes(new
            {
                sid = Guid.NewGuid().ToString("N"), uid = (i % 100 + 1).ToString(), email = $"user{i}@example.com", name = "Bench",
                roles = "user", tier = "user", ua = "bench", created = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            });
            peerKeys.Add(Guid.NewGuid().ToString("N"));
            await cache.SetAsync(peerKeys[^1], payload, entry);
        }

        Func<int, Task> Cycle(Func<int, Task> validate)
        {
            var next = 0;
            return _ => validate(Interlocked.Increment(ref next) % Sessions);
        }

        var table = await PeerComparison.MeasureAsync(context, Concurrency,
            new Candidate("peer: RedisCache GetAsync + RefreshAsync (10.0.15)", Cycle(async i =>
            {
                if (await cache.GetAsync(peerKeys[i]) is null)
                {
                    throw new InvalidOperationException("a peer session vanished");
                }
                await cache.RefreshAsync(peerKeys[i]);
            })),
            new Candidate($"ours: validate, touch throttled (default, {defaults.TouchInterval.TotalMinutes:0} min)",
                Cycle(async i => _ = await throttled.ValidateAsync(tokens[i]) ?? throw new InvalidOperationException("a session vanished"))),
            new Candidate("ours: validate, touch every call",
                Cycle(async i => _ = await everyCall.ValidateAsync(tokens[i]) ?? throw new InvalidOperationException("a session vanished"))));
        context.Print($"## {Name}: {Sessions} sessions validated round-robin, idle {defaults.IdleTimeout.TotalDays:0} d + absolute " +
            $"{defaults.AbsoluteTimeout.TotalDays:0} d", table);
    }
}
