using System.Diagnostics;
using Benchmarks;
using Platform.Tests.Redis;
using StackExchange.Redis;

// dotnet run -c Release --project Tests/Benchmarks -- <name> [--seconds N] [--server redis|garnet]
var benchmarks = new Dictionary<string, Func<BenchmarkContext, Task>>
{
    [RedisBaseline.Name] = RedisBaseline.RunAsync,
    [SessionsBenchmark.Name] = SessionsBenchmark.RunAsync,
    [RateLimitBenchmark.Name] = RateLimitBenchmark.RunAsync,
    [LocksBenchmark.Name] = LocksBenchmark.RunAsync,
    [JobsBenchmark.Name] = JobsBenchmark.RunAsync,
    [OutputCacheBenchmark.Name] = OutputCacheBenchmark.RunAsync,
    [FanoutBenchmark.Name] = FanoutBenchmark.RunAsync,
};

if (args.FirstOrDefault() == LockHolder.Name)
{
    return await LockHolder.RunAsync(args);
}
if (args.FirstOrDefault() == JobWorker.Name)
{
    return await JobWorker.RunAsync(args);
}

var name = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal));
if (name is null || !benchmarks.TryGetValue(name, out var benchmark))
{
    Console.Error.WriteLine($"Usage: dotnet run -c Release --project Tests/Benchmarks -- <name> [--seconds N] [--server redis|garnet]");
    Console.Error.WriteLine($"Benchmarks: {string.Join(", ", benchmarks.Keys)}");
    return 2;
}

var secondsAt = Array.IndexOf(args, "--seconds");
var seconds = secondsAt >= 0 && secondsAt + 1 < args.Length ? double.Parse(args[secondsAt + 1]) : 5;
var serverAt = Array.IndexOf(args, "--server");
var kind = serverAt >= 0 && serverAt + 1 < args.Length && args[serverAt + 1] == "garnet" ? RedisServerKind.Garnet : RedisServerKind.RedisServer;

#if DEBUG
Console.Error.WriteLine("Warning: a Debug build; run with -c Release for figures worth reporting.");
#endif

await using var server = await RedisServerProcess.StartNewAsync(kind);
await using var redis = await ConnectionMultiplexer.ConnectAsync($"{server.ConnectionString},allowAdmin=true");
var info = (await redis.GetServers().Single().InfoAsync("server")).SelectMany(g => g).ToList();
var version = info.FirstOrDefault(kv => kv.Key == "garnet_version").Value is { } garnet ? $"Garnet {garnet}"
    : $"redis-server {info.First(kv => kv.Key == "redis_version").Value}";

Console.WriteLine($"# {name}: {version} on 127.0.0.1:{server.Port}, {Environment.ProcessorCount} cores, " +
    $".NET {Environment.Version}, {seconds} s per row after a {Math.Min(1, seconds)} s warm-up");
Console.WriteLine();

var clock = Stopwatch.StartNew();
await benchmark(new BenchmarkContext(redis, server, TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(Math.Min(1, seconds))));
Console.WriteLine($"Done in {clock.Elapsed.TotalSeconds:0} s.");
return 0;
