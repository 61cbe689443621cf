using StackExchange.Redis;

namespace Benchmarks.Harness;

/// <summary>What one operation costs Redis: round trips the client sent, and commands the server ran.</summary>
/// <param name="RoundTrips">Commands sent by the client (StackExchange.Redis's operation count).</param>
/// <param name="ServerCommands">Commands the server executed (<c>INFO commandstats</c>), counting those a script calls; NaN where the server does not say (Garnet).</param>
/// <param name="ServerMicros">
/// Server CPU time per operation (<c>INFO commandstats</c> usec of top-level commands): what bounds throughput once
/// Redis's one thread is saturated, and far steadier than ops/s on a busy machine.
/// </param>
public sealed record CommandCost(double RoundTrips, double ServerCommands, double ServerMicros)
{
    /// <summary>
    /// Runs <paramref name="operation"/> <paramref name="count"/> times, one at a time, and divides. Counts
    /// everything on the server, so measure on a quiet server, before or after the load.
    /// </summary>
    /// <param name="topLevelCommands">Plain commands the operation sends beside its scripts (see <see cref="Candidate"/>).</param>
    public static Task<CommandCost> MeasureAsync(IConnectionMultiplexer redis, int count, Func<Task> operation,
        string[]? topLevelCommands = null) =>
        MeasureTotalAsync(redis, count, async () =>
        {
            for (var i = 0; i < count; i++)
            {
                await operation();
            }
        }, topLevelCommands);

    /// <summary>Runs <paramref name="work"/> once and divides its cost by <paramref name="count"/>, the operations it did.</summary>
    public static async Task<CommandCost> MeasureTotalAsync(IConnectionMultiplexer redis, int count, Func<Task> work,
        string[]? topLevelCommands = null)
    {
        // Every master (one server, or a cluster's three): an operation's commands run where its keys live.
        var masters = redis.GetServers().Where(s => !s.IsReplica).ToArray();
        var topLevel = topLevelCommands ?? [];
        var serverBefore = await ServerStatsAsync(masters, topLevel);
        var clientBefore = redis.OperationCount;
        await work();
        var clientAfter = redis.OperationCount;
        var serverAfter = await ServerStatsAsync(masters, topLevel);

        // The INFO that took the first reading is counted by the server in the second reading, and the
        // multiplexer's own once-a-second heartbeat may add one or two: negligible over many operations.
        // A script's time already includes the commands it calls, which INFO also lists on their own; an
        // operation measured here is either scripts or plain commands, or names the plain commands it sends beside
        // its scripts (topLevelCommands).
        if (serverAfter.Calls == 0)
        {
            // Garnet answers INFO commandstats with nothing: the server side is unknown, not zero.
            return new((clientAfter - clientBefore) / (double)count, double.NaN, double.NaN);
        }
        var scriptMicros = serverAfter.ScriptMicros - serverBefore.ScriptMicros;
        var otherMicros = serverAfter.OtherMicros - serverBefore.OtherMicros;
        var namedMicros = serverAfter.TopLevelMicros - serverBefore.TopLevelMicros;
        return new(
            (clientAfter - clientBefore) / (double)count,
            (serverAfter.Calls - serverBefore.Calls - masters.Length) / (double)count,
            (scriptMicros > 0 ? scriptMicros + namedMicros : otherMicros) / (double)count);
    }

    private static async Task<(long Calls, long ScriptMicros, long OtherMicros, long TopLevelMicros)> ServerStatsAsync(
        IServer[] servers, string[] topLevel)
    {
        var infos = await Task.WhenAll(servers.Select(server => server.InfoAsync("commandstats")));
        long calls = 0, scriptMicros = 0, otherMicros = 0, topLevelMicros = 0;
        foreach (var entry in infos.SelectMany(info => info).SelectMany(group => group))
        {
            // cmdstat_get: calls=12,usec=...,usec_per_call=...
            var parts = entry.Value.Split(',');
            calls += Value(parts, "calls=");
            if (entry.Key.EndsWith("evalsha", StringComparison.Ordinal) || entry.Key.EndsWith("eval", StringComparison.Ordinal))
            {
                scriptMicros += Value(parts, "usec=");
            }
            else if (!entry.Key.EndsWith("info", StringComparison.Ordinal))
            {
                otherMicros += Value(parts, "usec=");
                if (topLevel.Any(command => entry.Key.Equals($"cmdstat_{command}", StringComparison.OrdinalIgnoreCase)))
                {
                    topLevelMicros += Value(parts, "usec=");
                }
            }
        }
        return (calls, scriptMicros, otherMicros, topLevelMicros);
    }

    /// <summary>Commands each master has run since it started (INFO commandstats calls, summed): for the per-node split.</summary>
    public static async Task<long> CallsAsync(IServer server) => (await ServerStatsAsync([server], [])).Calls;

    private static long Value(string[] parts, string name) =>
        long.Parse(parts.First(part => part.StartsWith(name, StringComparison.Ordinal))[name.Length..]);
}
