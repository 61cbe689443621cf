using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Benchmarks.Harness;
using Platform.Notifications;
using Platform.Tests;
using Platform.Tests.Notifications;
using StackExchange.Redis;

namespace Benchmarks;

/// <summary>
/// Publish-to-receive latency and events delivered per second through a notifier (Kestrel on loopback, in this
/// process) to 1 and 1,000 SSE clients reading over real sockets, at a fixed publish rate; the same-run baseline is
/// a bare PUBLISH received by one StackExchange.Redis subscriber (the Redis hop alone). Then the cost of one publish
/// in Redis commands, against PUBLISH and the one-line EVALSHA.
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

        var table = new MarkdownTable("path", "clients", "published/s", "delivered/s", "p50 ms", "p99 ms", "max ms", "received",
            "CPU µs/event/client", "allocated B/event/client");
        foreach (var rate in Rates)
        {
            var baseline = await BaselineAsync(context, rate);
            table.Add("baseline: PUBLISH -> 1 SE.Redis subscriber", 1, baseline.Published, baseline.Delivered, baseline.P50, baseline.P99, baseline.Max, baseline.Received, baseline.CpuMicros, baseline.AllocatedBytes);
            foreach (var clients in Clients)
            {
                var ours = await FanoutAsync(context, host, token, clients, rate);
                table.Add("ours: publish.lua -> notifier -> SSE", clients, ours.Published, ours.Delivered, ours.P50, ours.P99, ours.Max, ours.Received, ours.CpuMicros, ours.AllocatedBytes);
            }
        }
        context.Print($"## {Name}: publish to receive, {context.Duration.TotalSeconds:0} s per row at a fixed publish rate", table);
        context.Print($"## {Name}: cost of one publish (the notifier adds none: no gap, no history read)", cost);
    }

    /// <param name="CpuMicros">This process's CPU time (notifier and benchmark clients alike) per event delivered to one client.</param>
    /// <param name="AllocatedBytes">This process's allocations (notifier and clients alike) per event delivered to one client.</param>
    private sealed record Row(double Published, double Delivered, double P50, double P99, double Max, string Received, double CpuMicros,
        double AllocatedBytes);

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
        var starts = new long[count];
        using var stop = new CancellationTokenSource();
        var readers = new List<Task<List<double>>>(clients);
        var connected = 0;
        for (var i = 0; i < clients; i++)
        {
            readers.Add(ReadClientAsync(host.Address, token, count, starts, () => Interlocked.Increment(ref connected), stop.Token));
        }
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (host.Hub.ConnectedClients < clients || Volatile.Read(ref connected) < clients)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Only {host.Hub.ConnectedClients} of {clients} clients connected.");
            }
            await Task.Delay(50);
        }

        var clock = Stopwatch.StartNew();
        var cpu = CpuTime();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var (published, _) = await PublishPacedAsync(rate, count, starts,
            seq => host.Publisher.PublishAsync(NotificationChannels.SystemAlert, new { message = "fanout", severity = "info", seq }));
        var all = Task.WhenAll(readers);
        await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(30)));
        var elapsed = clock.Elapsed;
        cpu = CpuTime() - cpu;
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        stop.Cancel();
        var latencies = (await Task.WhenAll(readers.Select(async r => { try { return await r; } catch (OperationCanceledException) { return []; } })))
            .SelectMany(l => l).ToList();
        var dropped = host.Hub.SlowClientDrops;
        await WaitForDisconnectsAsync(host);
        return Summarize(latencies, published, latencies.Count / elapsed.TotalSeconds,
            $"{latencies.Count}/{(long)count * clients}" + (dropped > 0 ? $", {dropped} slow-client drops" : ""), cpu, allocated);
    }

    private static async Task WaitForDisconnectsAsync(NotifierHost host)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (host.Hub.ConnectedClients > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
    }

    private static async Task<List<double>> ReadClientAsync(Uri address, string token, int count, long[] starts, Action connected, CancellationToken stop)
    {
        // HTTP/1.1 over a bare socket, as a browser's EventSource reads it: HttpClient's per-read work would make the
        // clients, not the notifier, the larger share of this process's CPU and allocations.
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(address.Host, address.Port, stop);
        await socket.SendAsync(Encoding.ASCII.GetBytes(
            $"GET /notifications/stream HTTP/1.1\r\nHost: {address.Authority}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"), stop);
        var status = false;
        // Parses only each frame's seq. Chunk headers between frames hold no blank line, so frames split on one.
        var latencies = new List<double>(count);
        var buffer = new byte[64 * 1024];
        var filled = 0;
        while (latencies.Count < count)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, stop);
            if (read == 0)
            {
                throw new InvalidOperationException("The stream ended.");
            }
            filled += read;
            if (!status)
            {
                if (filled < 12)
                {
                    continue;
                }
                if (!buffer.AsSpan(0, 12).SequenceEqual("HTTP/1.1 200"u8))
                {
                    throw new InvalidOperationException($"The stream answered {Encoding.ASCII.GetString(buffer, 0, filled)}");
                }
                status = true;
                connected();
            }
            var now = Stopwatch.GetTimestamp();
            var consumed = 0;
            int end;
            while ((end = buffer.AsSpan(consumed, filled - consumed).IndexOf("\n\n"u8)) >= 0)
            {
                var frame = buffer.AsSpan(consumed, end);
                if (frame.IndexOf("\ndata: "u8) >= 0 || frame.StartsWith("data: "u8))
                {
                    latencies.Add(Stopwatch.GetElapsedTime(starts[Seq(frame)], now).TotalMilliseconds);
                }
                consumed += end + 2;
            }
            buffer.AsSpan(consumed, filled - consumed).CopyTo(buffer);
            filled -= consumed;
        }
        return latencies;
    }

    private static int Count(BenchmarkContext context, int rate) => (int)(rate * context.Duration.TotalSeconds);

    /// <summary>Publishes <paramref name="count"/> events at <paramref name="rate"/> per second, recording when each was sent.</summary>
    private static async Task<(double PerSecond, TimeSpan Elapsed)> PublishPacedAsync(int rate, int count, long[] starts, Func<long, Task> publish)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1.0 / rate));
        var clock = Stopwatch.StartNew();
        for (var seq = 0; seq < count; seq++)
        {
            starts[seq] = Stopwatch.GetTimestamp();
            await publish(seq);
            await timer.WaitForNextTickAsync();
        }
        return (count / clock.Elapsed.TotalSeconds, clock.Elapsed);
    }

    private static long Seq(ReadOnlySpan<byte> frame)
    {
        var at = frame.LastIndexOf("\"seq\":"u8) + "\"seq\":".Length;
        var digits = frame[at..].IndexOfAnyExceptInRange((byte)'0', (byte)'9');
        return long.Parse(digits < 0 ? frame[at..] : frame.Slice(at, digits));
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
            latencies.Count == 0 ? double.NaN : cpu.TotalMicroseconds / latencies.Count,
            latencies.Count == 0 ? double.NaN : (double)allocated / latencies.Count);
    }

    private static TimeSpan CpuTime()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }
}
