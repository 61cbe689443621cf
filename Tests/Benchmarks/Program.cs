using System.Diagnostics;
using Benchmarks;
using Benchmarks.Harness;
using Platform.Tests.Redis;
using StackExchange.Redis;

// dotnet run -c Release --project Tests/Benchmarks -- <name> [--seconds N] [--server redis|garnet|cluster]
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
if (args.FirstOrDefault() == FanoutClients.Name)
{
    return await FanoutClients.RunAsync(args);
}
if (args.FirstOrDefault() == JobWorker.Name)
{
    return await JobWorker.RunAsync(args);
}

var name = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal));
if (name is null || !benchmarks.TryGetValue(name, out var benchmark))
{
    Console.Error.WriteLine($"Usage: dotnet run -c Release --project Tests/Benchmarks -- <name> [--seconds N] [--server redis|garnet|cluster]");
    Console.Error.WriteLine($"Benchmarks: {string.Join(", ", benchmarks.Keys)}");
    return 2;
}

var secondsAt = Array.IndexOf(args, "--seconds");
var seconds = secondsAt >= 0 && secondsAt + 1 < args.Length ? double.Parse(args[secondsAt + 1]) : 5;
var serverAt = Array.IndexOf(args, "--server");
var kind = (serverAt >= 0 && serverAt + 1 < args.Length ? args[serverAt + 1] : "redis") switch
{
    "garnet" => RedisServerKind.Garnet,
    "cluster" => RedisServerKind.Cluster,
    _ => RedisServerKind.RedisServer,
};

#if DEBUG
Console.Error.WriteLine("Warning: a Debug build; run with -c Release for figures worth reporting.");
#endif

await using IRedisDeployment server = kind == RedisServerKind.Cluster
    ? await RedisClusterProcess.StartNewAsync()
    : await RedisServerProcess.StartNewAsync(kind);
await using var redis = await ConnectionMultiplexer.ConnectAsync($"{server.ConnectionString},allowAdmin=true");
var info = (await redis.GetServers()[0].InfoAsync("server")).SelectMany(g => g).ToList();
var version = info.FirstOrDefault(kv => kv.Key == "garnet_version").Value is { } garnet ? $"Garnet {garnet}"
    : $"redis-server {info.First(kv => kv.Key == "redis_version").Value}";
var masters = redis.GetServers().Where(s => !s.IsReplica).OrderBy(s => s.EndPoint.ToString()).ToArray();
var where = kind == RedisServerKind.Cluster ? $"a cluster of {masters.Length} masters and {masters.Length} replicas" : server.ConnectionString.Split(',')[0];

Console.WriteLine($"# {name}: {version} on {where}, {Environment.ProcessorCount} cores, " +
    $".NET {Environment.Version}, {seconds} s per row after a {Math.Min(1, seconds)} s warm-up");
Console.WriteLine();

var clock = Stopwatch.StartNew();
var callsBefore = kind == RedisServerKind.Cluster ? await Task.WhenAll(masters.Select(CommandCost.CallsAsync)) : [];
await benchmark(new BenchmarkContext(redis, server, TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(Math.Min(1, seconds))));
if (kind == RedisServerKind.Cluster)
{
    // On one machine the nodes share its cores, so a cluster shows no scaling here; this shows where the load went.
    var callsAfter = await Task.WhenAll(masters.Select(CommandCost.CallsAsync));
    var ran = callsAfter.Zip(callsBefore, (after, before) => after - before).ToArray();
    var split = new MarkdownTable("master", "server commands", "share");
    for (var i = 0; i < masters.Length; i++)
    {
        split.Add(masters[i].EndPoint.ToString()!, ran[i], ran[i] / (double)Math.Max(1, ran.Sum()));
    }
    Console.WriteLine("Server commands per master over the whole run (INFO commandstats):");
    Console.WriteLine();
    Console.Write(split);
    Console.WriteLine();
}
Console.WriteLine($"Done in {clock.Elapsed.TotalSeconds:0} s.");
return 0;
