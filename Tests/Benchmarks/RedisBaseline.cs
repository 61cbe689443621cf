using Benchmarks.Harness;
using Platform.Tests.Redis;
using StackExchange.Redis;

namespace Benchmarks;

/// <summary>
/// The ceiling every other benchmark is measured against, in the same run: raw round trips through
/// StackExchange.Redis (one shared multiplexer, as the services use it) for PING and for a one-line EVALSHA.
/// </summary>
public static class RedisBaseline
{
    public const string Name = "redis-baseline";
    public static readonly int[] Concurrency = [1, 16, 64];

    private const string OneLineScript = "return redis.call('INCR', KEYS[1])";
    private static readonly RedisKey[] ScriptKeys = ["bench:{baseline}:counter"];

    /// <summary>A loaded one-line script, to call with EVALSHA (never EVAL) like every Platform script.</summary>
    public static async Task<Func<Task>> PrepareEvalShaAsync(IConnectionMultiplexer redis)
    {
        // Every server, so that on a cluster the master serving the key has it too.
        byte[] sha = [];
        foreach (var server in redis.GetServers())
        {
            sha = await server.ScriptLoadAsync(OneLineScript);
        }
        var db = redis.GetDatabase();
        return () => db.ScriptEvaluateAsync(sha, ScriptKeys);
    }

    public static Func<Task> Ping(IConnectionMultiplexer redis)
    {
        var db = redis.GetDatabase();
        return () => db.PingAsync();
    }

    /// <summary>Both servers side by side: the run's own server (redis-server unless --server garnet) and the other one.</summary>
    public static async Task RunAsync(BenchmarkContext context)
    {
        var otherKind = context.Server.Kind == RedisServerKind.Garnet ? RedisServerKind.RedisServer : RedisServerKind.Garnet;
        await using var other = await RedisServerProcess.StartNewAsync(otherKind);
        await using var otherRedis = await ConnectionMultiplexer.ConnectAsync($"{other.ConnectionString},allowAdmin=true");
        var servers = new[] { (Kind: context.Server.Kind, Redis: context.Redis), (Kind: otherKind, Redis: (IConnectionMultiplexer)otherRedis) }
            .OrderBy(s => s.Kind).ToArray();

        var table = new MarkdownTable("operation", "callers",
            $"{Label(servers[0].Kind)} ops/s", "p50 µs", "p99 µs", $"{Label(servers[1].Kind)} ops/s", "p50 µs", "p99 µs",
            "Garnet / Redis", "round trips/op", "redis-server commands/op", "redis-server µs/op");
        foreach (var (name, prepare) in Operations)
        {
            var runs = new List<(LoadResult[] Results, CommandCost Cost)>();
            foreach (var (_, redis) in servers)
            {
                var run = await prepare(redis);
                var cost = await CommandCost.MeasureAsync(redis, 1000, run);
                var results = new List<LoadResult>();
                foreach (var concurrency in Concurrency)
                {
                    results.Add(await LoadRunner.RunAsync(concurrency, context.Duration, context.Warmup, run));
                }
                runs.Add((results.ToArray(), cost));
            }
            for (var i = 0; i < Concurrency.Length; i++)
            {
                var (a, b) = (runs[0].Results[i], runs[1].Results[i]);
                table.Add(name, Concurrency[i], a.OpsPerSecond, a.P50Micros, a.P99Micros, b.OpsPerSecond, b.P50Micros, b.P99Micros,
                    b.OpsPerSecond / a.OpsPerSecond, runs[0].Cost.RoundTrips, runs[0].Cost.ServerCommands, runs[0].Cost.ServerMicros);
            }
        }
        context.Print($"## {Name}", table);
    }

    private static readonly (string Name, Func<IConnectionMultiplexer, Task<Func<Task>>> Prepare)[] Operations =
    [
        ("PING", redis => Task.FromResult(Ping(redis))),
        ("EVALSHA (one-line INCR)", PrepareEvalShaAsync),
    ];

    private static string Label(RedisServerKind kind) => kind == RedisServerKind.RedisServer ? "redis-server" : "Garnet";
}
