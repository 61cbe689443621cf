using Benchmarks.Harness;
using Platform.Tests.Redis;
using StackExchange.Redis;

namespace Benchmarks;

/// <summary>What a benchmark gets: a connection to its own redis-server (or cluster), and how long to measure.</summary>
public sealed record BenchmarkContext(IConnectionMultiplexer Redis, IRedisDeployment Server, TimeSpan Duration, TimeSpan Warmup)
{
    public void Print(string heading, MarkdownTable table)
    {
        Console.WriteLine(heading);
        Console.WriteLine();
        Console.Write(table);
        Console.WriteLine();
    }
}
