using StackExchange.Redis;

namespace Benchmarks.Harness;

/// <summary>What one operation costs Redis: round trips the client sent, and commands the server ran.</summary>
/// <param name="RoundTrips">Commands sent by the client (StackExchange.Redis's operation count).</param>
/// <param name="ServerCommands">Commands the server executed (<c>INFO commandstats</c>), counting those a script calls.</param>
public sealed record CommandCost(double RoundTrips, double ServerCommands)
{
    /// <summary>
    /// Runs <paramref name="operation"/> <paramref name="count"/> times, one at a time, and divides. Counts
    /// everything on the server, so measure on a quiet server, before or after the load.
    /// </summary>
    public static async Task<CommandCost> MeasureAsync(IConnectionMultiplexer redis, int count, Func<Task> operation)
    {
        var server = redis.GetServers().Single();
        var serverBefore = await ServerCallsAsync(server);
        var clientBefore = redis.OperationCount;
        for (var i = 0; i < count; i++)
        {
            await operation();
        }
        var clientAfter = redis.OperationCount;
        var serverAfter = await ServerCallsAsync(server);

        // The INFO that took the first reading is counted by the server in the second reading, and the
        // multiplexer's own once-a-second heartbeat may add one or two: negligible over many operations.
        return new((clientAfter - clientBefore) / (double)count, (serverAfter - serverBefore - 1) / (double)count);
    }

    private static async Task<long> ServerCallsAsync(IServer server)
    {
        var info = await server.InfoAsync("commandstats");
        long total = 0;
        foreach (var entry in info.SelectMany(group => group))
        {
            // cmdstat_get: calls=12,usec=...,usec_per_call=...
            var calls = entry.Value.Split(',').First(part => part.StartsWith("calls=", StringComparison.Ordinal));
            total += long.Parse(calls["calls=".Length..]);
        }
        return total;
    }
}
