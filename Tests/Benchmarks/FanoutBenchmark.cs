using System.Diagnostics;
using System.Globalization;
using Benchmarks.Harness;
using Platform.Notifications;
using Platform.Tests;
using Platform.Tests.Notifications;
using StackExchange.Redis;

namespace Benchmarks;

/// <summary>
/// Publish-to-receive latency and events delivered per second through a notifier (Kestrel on loopback, in this
/// process) to 1 and 1,000 SSE clients reading over real sockets in a second process (<see cref="FanoutClients"/>, so
/// the notifier's CPU time and the clients' are measured apart), at a paced publish rate; the same-run baseline is a
/// bare PUBLISH received by one StackExchange.Redis subscriber (the Redis hop alone). Then the cost of one publish in
/// Redis commands, against PUBLISH and the one-line EVALSHA.
/// </summary>
public static class FanoutBenchmark
{
    public const string Name = "fanout";
    private static readonly int[] Clients = [1, 1000];
    private static readonly int[] Rates = [20, 100];

    public static async Task RunAsync(BenchmarkContext context)
    {
        var cost = await MeasureCostAsync(context);

        await using var host = await NotifierHost.StartAsync(context.Server.ConnectionString, new FakeMembership(), new Dictionary<string, string?>
        {
            // Buffers that hold a whole measurement, and no session checks during it: only the fan-out is measured.
            ["Notifications:ClientBufferSize"] = "4096",
            ["Notifications:SessionRevalidationInterval"] = "01:00:00",
            // All 1,000 clients are one signed-in user: the per-user stream cap (10 by default) would refuse the rest.
            ["Notifications:MaxStreamsPerUser"] = "1000",
        });
        var token = await host.SignInAsync("bench");

        var table = new MarkdownTable("path", "clients", "asked/s", "published/s", "delivered/s", "p50 ms", "p99 ms", "max ms", "received",
            "notifier CPU µs/event/client", "clients CPU µs/event/client", "notifier allocated B/event/client");
        foreach (var rate in Rates)
        {
            var baseline = await BaselineAsync(context, rate);
            table.Add("baseline: PUBLISH -> 1 SE.Redis subscriber", 1, rate, baseline.Published, baseline.Delivered, baseline.P50, baseline.P99, baseline.Max, baseline.Received, baseline.CpuMicros, baseline.ClientCpuMicros, baseline.AllocatedBytes);
            foreach (var clients in Clients)
            {
                var ours = await FanoutAsync(context, host, token, clients, rate);
                table.Add("ours: publish.lua -> notifier -> SSE", clients, rate, ours.Published, ours.Delivered, ours.P50, ours.P99, ours.Max, ours.Received, ours.CpuMicros, ours.ClientCpuMicros, ours.AllocatedBytes);
            }
        }
        context.Print($"## {Name}: publish to receive, {context.Duration.TotalSeconds:0} s per row at a paced publish rate", table);
        context.Print($"## {Name}: cost of one publish (the notifier adds none: no gap, no history read)", cost);
    }

    /// <param name="CpuMicros">This process's CPU time (the notifier, and the publisher in it) per event delivered to one client.</param>
    /// <param name="ClientCpuMicros">The client process's CPU time per event delivered to one client.</param>
    /// <param name="AllocatedBytes">This process's allocations per event delivered to one client.</param>
    private sealed record Row(double Published, double Delivered, double P50, double P99, double Max, string Received, double CpuMicros,
        double ClientCpuMicros, double AllocatedBytes);

    private static async Task<MarkdownTable> MeasureCostAsync(BenchmarkContext context)
    {
        var publisher = new NotificationPublisher(context.Redis, new NotificationTelemetry(TestMeters.Factory));
        var db = context.Redis.GetDatabase();
        var table = new MarkdownTable("operation", "round trips", "server commands", "server µs");
        foreach (var (name, operation) in new (string, Func<Task>)[]
        {
            ("baseline: PUBLISH", () => db.PublishAsync(RedisChannel.Literal("bench"), Payload(0))),
            ("baseline: EVALSHA one-line", await RedisBaseline.PrepareEvalShaAsync(context.Redis)),
            ("ours: publish (INCR, TIME, ZADD, ZCARD, trim when full, PUBLISH)",
                () => publisher.PublishAsync(NotificationChannels.SystemAlert, new { message = "cost", severity = "info", seq = -1 })),
        })
        {
            var measured = await CommandCost.MeasureAsync(context.Redis, 500, operation);
            table.Add(name, measured.RoundTrips, measured.ServerCommands, measured.ServerMicros);
        }
        return table;
    }

    private static string Payload(long seq) => $$"""{"message":"fanout","severity":"info","seq":{{seq}}}""";

    private static async Task<Row> BaselineAsync(BenchmarkContext context, int rate)
    {
        var count = Count(context, rate);
        var starts = new long[count];
        var latencies = new List<double>(count);
        var received = 0;
        var done = new TaskCompletionSource();
        var channel = RedisChannel.Literal($"bench-{Guid.NewGuid():N}");
        var subscriber = context.Redis.GetSubscriber();
        var queue = await subscriber.SubscribeAsync(channel);
        queue.OnMessage(message =>
        {
            var now = Stopwatch.GetTimestamp();
            var seq = Seq((string)message.Message!);
            latencies.Add(Stopwatch.GetElapsedTime(starts[seq], now).TotalMilliseconds);
            if (++received == count)
            {
                done.TrySetResult();
            }
        });
        var db = context.Redis.GetDatabase();
        var cpu = CpuTime();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var (published, elapsed) = await PublishPacedAsync(rate, count, starts, seq => db.PublishAsync(channel, Payload(seq)));
        await done.Task.WaitAsync(TimeSpan.FromSeconds(30));
        cpu = CpuTime() - cpu;
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        await queue.UnsubscribeAsync();
        return Summarize(latencies, published, received / elapsed.TotalSeconds, $"{received}/{count}", cpu, allocated);
    }

    private static async Task<Row> FanoutAsync(BenchmarkContext context, NotifierHost host, string token, int clients, int rate)
    {
        var count = Count(context, rate);
        // At least 50, so that tiered compilation has settled the hot paths before the clock starts.
        var warmup = Math.Max(50, (int)(rate * context.Warmup.TotalSeconds));
        using var readers = ChildProcess.Start(FanoutClients.Name, host.Address.Host, host.Address.Port.ToString(CultureInfo.InvariantCulture), token,
            clients.ToString(CultureInfo.InvariantCulture), warmup.ToString(CultureInfo.InvariantCulture), count.ToString(CultureInfo.InvariantCulture));
        var ready = await readers.ReadLineAsync(TimeSpan.FromSeconds(60));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (ready != "READY" || host.Hub.ConnectedClients < clients)
        {
            if (ready != "READY" || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"{host.Hub.ConnectedClients} of {clients} clients connected; the client process said: {ready}");
            }
            await Task.Delay(50);
        }
        // The first events pay for the first use of every path (JIT, Kestrel's buffers): sent before the clock starts.
        var warmupIds = new long[warmup];
        await PublishPacedAsync(rate, warmup, new long[warmup], async seq => warmupIds[seq] = await PublishAsync(host, seq));
        var warm = await readers.ReadLineAsync(TimeSpan.FromSeconds(60)).ContinueWith(t => t.IsCompletedSuccessfully ? t.Result : t.Exception!.InnerException!.Message,
            TaskScheduler.Default);
        if (warm != "WARM")
        {
            throw new InvalidOperationException($"After the warm-up (events {warmupIds[0]} to {warmupIds[^1]}; {host.Hub.ConnectedClients} clients " +
                $"connected, {host.Hub.RecoveredEvents} events recovered from the history, {host.Hub.SlowClientDrops} slow-client drops) " +
                $"the client process said: {warm}");
        }

        await readers.WriteLineAsync("GO");
        var cpu = CpuTime();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var (published, _) = await PublishPacedAsync(rate, count, new long[count], seq => PublishAsync(host, seq));
        string result;
        try
        {
            result = await readers.ReadLineAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            // Some events never arrived: the row reports what did.
            await readers.WriteLineAsync("STOP");
            result = await readers.ReadLineAsync(TimeSpan.FromSeconds(30));
        }
        var fields = result.Split(' ');
        cpu = CpuTime() - cpu;
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        var dropped = host.Hub.SlowClientDrops;
        await readers.WriteLineAsync("EXIT");
        await WaitForDisconnectsAsync(host);

        double Number(int i) => double.Parse(fields[i], CultureInfo.InvariantCulture);
        var received = (long)Number(1);
        var clientCpu = TimeSpan.FromMicroseconds(Number(2));
        var seconds = Number(3);
        return new Row(published, received / seconds, Number(4), Number(5), Number(6),
            $"{received}/{(long)count * clients}" + (dropped > 0 ? $", {dropped} slow-client drops" : ""),
            cpu.TotalMicroseconds / received, clientCpu.TotalMicroseconds / received, (double)allocated / received);
    }

    /// <summary>An alert carrying the publisher's <see cref="Stopwatch"/> timestamp, from which the clients measure latency.</summary>
    private static Task<long> PublishAsync(NotifierHost host, long seq) =>
        host.Publisher.PublishAsync(NotificationChannels.SystemAlert, new { message = "fanout", severity = "info", seq, sent = Stopwatch.GetTimestamp() });

    private static async Task WaitForDisconnectsAsync(NotifierHost host)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (host.Hub.ConnectedClients > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
    }

    private static int Count(BenchmarkContext context, int rate) => (int)(rate * context.Duration.TotalSeconds);

    /// <summary>
    /// Publishes <paramref name="count"/> events at <paramref name="rate"/> per second, each on its due time (start +
    /// n / rate) and without waiting for the one before: a slow publish delays no other, and a publisher that falls
    /// behind catches up. Records when each was sent; the rate returned is the one measured, to the last publish's answer.
    /// </summary>
    private static async Task<(double PerSecond, TimeSpan Elapsed)> PublishPacedAsync(int rate, int count, long[] starts, Func<long, Task> publish)
    {
        var publishes = new Task[count];
        var begin = Stopwatch.GetTimestamp();
        for (var seq = 0; seq < count; seq++)
        {
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), begin + seq * Stopwatch.Frequency / rate);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }
            starts[seq] = Stopwatch.GetTimestamp();
            publishes[seq] = publish(seq);
        }
        await Task.WhenAll(publishes);
        var elapsed = Stopwatch.GetElapsedTime(begin);
        return (count / elapsed.TotalSeconds, elapsed);
    }

    private static long Seq(string text)
    {
        var at = text.LastIndexOf("\"seq\":", StringComparison.Ordinal) + "\"seq\":".Length;
        var end = at;
        while (end < text.Length && char.IsAsciiDigit(text[end]))
        {
            end++;
        }
        return long.Parse(text.AsSpan(at, end - at));
    }

    private static Row Summarize(List<double> latencies, double published, double delivered, string received, TimeSpan cpu, long allocated)
    {
        latencies.Sort();
        double At(double q) => latencies.Count == 0 ? double.NaN : latencies[Math.Min(latencies.Count - 1, (int)(q * latencies.Count))];
        return new Row(published, delivered, At(0.5), At(0.99), latencies.Count == 0 ? double.NaN : latencies[^1], received,
            latencies.Count == 0 ? double.NaN : cpu.TotalMicroseconds / latencies.Count, double.NaN,
            latencies.Count == 0 ? double.NaN : (double)allocated / latencies.Count);
    }

    private static TimeSpan CpuTime()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }
}
