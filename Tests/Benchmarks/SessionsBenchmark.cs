using Platform.Tests;
using System.Text.Json;
using Benchmarks.Harness;
using Microsoft.Extensions.Options;
using Platform.Sessions;
using StackExchange.Redis;

namespace Benchmarks;

/// <summary>
/// Session validation (validate + touch, one script) against the baseline EVALSHA and against the textbook
/// version (GET the session, then SETEX it to slide the expiry: two round trips, and a revoke that lands
/// between them is undone by the SETEX).
/// </summary>
public static class SessionsBenchmark
{
    public const string Name = "sessions";
    private static readonly int[] Concurrency = [16, 64];
    private const int Sessions = 1000;

    public static async Task RunAsync(BenchmarkContext context)
    {
        SessionStore Store(TimeSpan touch) => new(context.Redis,
            Options.Create(new SessionStoreOptions { TouchInterval = touch }), new SessionTelemetry(TestMeters.Factory));

        var throttled = Store(TimeSpan.FromMinutes(1));
        var everyCall = Store(TimeSpan.Zero);
        var tokens = new List<string>();
        for (var i = 0; i < Sessions; i++)
        {
            var user = new SessionUser((i % 100 + 1).ToString(), $"user{i}@example.com", "Bench", ["user"], "user");
            tokens.Add((await throttled.CreateAsync(user, "bench")).Token);
        }

        var db = context.Redis.GetDatabase();
        var naiveKeys = new List<RedisKey>();
        var json = JsonSerializer.Serialize(new { uid = "1", email = "user@example.com", name = "Bench", roles = "user", tier = "user" });
        for (var i = 0; i < Sessions; i++)
        {
            naiveKeys.Add($"naive:session:{Guid.NewGuid():N}");
            await db.StringSetAsync(naiveKeys[^1], json, TimeSpan.FromDays(7));
        }

        Func<Task> Cycle(Func<int, Task> validate)
        {
            var next = 0;
            return () => validate(Interlocked.Increment(ref next) % Sessions);
        }

        var baseline = await RedisBaseline.PrepareEvalShaAsync(context.Redis);
        var candidates = new (string Name, Func<Task> Run)[]
        {
            ("baseline: EVALSHA one-line", baseline),
            ("ours: validate, touch throttled (default, 1 min)", Cycle(i => throttled.ValidateAsync(tokens[i]))),
            ("ours: validate, touch every call", Cycle(i => everyCall.ValidateAsync(tokens[i]))),
            ("textbook: GET then SETEX", Cycle(async i =>
            {
                var value = await db.StringGetAsync(naiveKeys[i]);
                if (!value.IsNull)
                {
                    await db.StringSetAsync(naiveKeys[i], value, TimeSpan.FromDays(7));
                }
            })),
        };

        var table = await BaselineComparison.MeasureAsync(context, Concurrency, candidates);
        context.Print($"## {Name}: {Sessions} sessions, validated round-robin", table);
    }
}
