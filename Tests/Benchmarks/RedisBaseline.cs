using Benchmarks.Harness;
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
        var server = redis.GetServers().Single();
        var sha = await server.ScriptLoadAsync(OneLineScript);
        var db = redis.GetDatabase();
        return () => db.ScriptEvaluateAsync(sha, ScriptKeys);
    }

    public static Func<Task> Ping(IConnectionMultiplexer redis)
    {
        var db = redis.GetDatabase();
        return () => db.PingAsync();
    }

    public static async Task RunAsync(BenchmarkContext context)
    {
        var operations = new (string Name, Func<Task> Run)[]
        {
            ("PING", Ping(context.Redis)),
            ("EVALSHA (one-line INCR)", await PrepareEvalShaAsync(context.Redis)),
        };

        var table = new MarkdownTable("operation", "callers", "ops/s", "p50 µs", "p99 µs", "round trips/op", "server commands/op", "server µs/op");
        foreach (var (name, run) in operations)
        {
            var cost = await CommandCost.MeasureAsync(context.Redis, 1000, run);
            foreach (var concurrency in Concurrency)
            {
                var result = await LoadRunner.RunAsync(concurrency, context.Duration, context.Warmup, run);
                table.Add(name, concurrency, result.OpsPerSecond, result.P50Micros, result.P99Micros, cost.RoundTrips, cost.ServerCommands, cost.ServerMicros);
            }
        }
        context.Print($"## {Name}", table);
    }
}
