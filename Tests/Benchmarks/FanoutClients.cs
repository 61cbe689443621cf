using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;

namespace Benchmarks;

/// <summary>
/// Not a benchmark by itself: the SSE clients of <see cref="FanoutBenchmark"/>, run as a second process so that the
/// notifier's CPU time and the clients' are measured apart.
///   fanout-clients &lt;host&gt; &lt;port&gt; &lt;token&gt; &lt;clients&gt; &lt;warm-up events&gt; &lt;events&gt;
/// opens the streams and prints "READY" once every one answered 200; "WARM" once every client has received the warm-up
/// events (not measured: they pay for the first use of each path); on the line "GO" starts its CPU clock; when every
/// client has received the events after those (or on the line "STOP") prints one line
/// "DONE &lt;received&gt; &lt;CPU µs&gt; &lt;seconds from GO to the last event&gt; &lt;p50 ms&gt; &lt;p99 ms&gt; &lt;max ms&gt;",
/// and exits (closing every stream) at the next line or the end of its input.
/// </summary>
public static class FanoutClients
{
    public const string Name = "fanout-clients";

    public static async Task<int> RunAsync(string[] args)
    {
        var (host, port, token) = (args[1], int.Parse(args[2], CultureInfo.InvariantCulture), args[3]);
        var (clients, warmup, count) = (int.Parse(args[4], CultureInfo.InvariantCulture), int.Parse(args[5], CultureInfo.InvariantCulture),
            int.Parse(args[6], CultureInfo.InvariantCulture));
        var input = Channel.CreateUnbounded<string>();
        _ = Task.Run(async () =>
        {
            while (await Console.In.ReadLineAsync() is { } line)
            {
                input.Writer.TryWrite(line);
            }
            input.Writer.TryComplete();
        });
        using var stop = new CancellationTokenSource();
        var connected = new Countdown(clients);
        var warmed = new Countdown(clients);
        var finished = new Countdown(clients);
        var lastReceived = 0L;
        var perClient = Enumerable.Range(0, clients).Select(_ => new List<double>(count)).ToArray();
        var readers = perClient.Select(latencies => ReadAsync(host, port, token, warmup, count, latencies,
            new ClientSignals(connected.Signal, warmed.Signal, finished.Signal, at => InterlockedMax(ref lastReceived, at)), stop.Token)).ToList();
        // A reader ends only when it fails: then the parent gets its error instead of READY or WARM.
        var failed = Task.WhenAny(readers).Unwrap();
        foreach (var (stage, line) in new[] { (connected.Task, "READY"), (warmed.Task, "WARM") })
        {
            if (await Task.WhenAny(stage, failed) == failed)
            {
                Console.WriteLine($"FAILED {failed.Exception?.InnerException?.Message}");
                return 1;
            }
            Console.WriteLine(line);
        }

        await ReadUntilAsync(input, "GO", CancellationToken.None);
        var cpu = Cpu();
        var go = Stopwatch.GetTimestamp();
        using var measured = new CancellationTokenSource();
        await Task.WhenAny(finished.Task, ReadUntilAsync(input, "STOP", measured.Token));
        cpu = Cpu() - cpu;
        await measured.CancelAsync();
        if (!finished.Task.IsCompleted)
        {
            // Told to stop before every event arrived: report what did.
            await stop.CancelAsync();
            await Task.WhenAll(readers.Select(r => r.ContinueWith(_ => { }, TaskScheduler.Default)));
        }
        var latencies = perClient.SelectMany(l => l).ToList();
        latencies.Sort();
        double At(double q) => latencies.Count == 0 ? double.NaN : latencies[Math.Min(latencies.Count - 1, (int)(q * latencies.Count))];
        var seconds = Stopwatch.GetElapsedTime(go, Math.Max(go, Interlocked.Read(ref lastReceived))).TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"DONE {latencies.Count} {cpu.TotalMicroseconds:0} {seconds} {At(0.5)} {At(0.99)} {(latencies.Count == 0 ? double.NaN : latencies[^1])}"));
        // The sockets stay open until the parent has read its own clocks: a thousand streams ending cost it CPU too.
        await input.Reader.WaitToReadAsync();
        return 0;
    }

    /// <summary>
    /// One client: HTTP/1.1 over a bare socket, as a browser's EventSource reads it (HttpClient's per-read work would
    /// make the clients cost more than they need to). Parses only each event's <c>sent</c>: the publisher's
    /// <see cref="Stopwatch"/> timestamp, which counts on the machine's monotonic clock and so compares across processes.
    /// </summary>
    private sealed record ClientSignals(Action Connected, Action Warmed, Action Finished, Action<long> Received);

    private static async Task ReadAsync(string host, int port, string token, int warmup, int count, List<double> latencies, ClientSignals signals,
        CancellationToken stop)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(host, port, stop);
        await socket.SendAsync(Encoding.ASCII.GetBytes(
            $"GET /notifications/stream HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"), stop);
        var events = 0;
        var raw = new byte[64 * 1024];
        var filled = 0;
        ChunkedBody? body = null;
        while (events < warmup + count)
        {
            var read = await socket.ReceiveAsync(raw.AsMemory(filled), SocketFlags.None, stop);
            if (read == 0)
            {
                throw new InvalidOperationException("The stream ended.");
            }
            filled += read;
            var consumed = 0;
            if (body is null)
            {
                var headersEnd = raw.AsSpan(0, filled).IndexOf("\r\n\r\n"u8);
                if (headersEnd < 0)
                {
                    continue;
                }
                if (!raw.AsSpan(0, 12).SequenceEqual("HTTP/1.1 200"u8))
                {
                    throw new InvalidOperationException($"The stream answered {Encoding.ASCII.GetString(raw, 0, filled)}");
                }
                body = new ChunkedBody();
                consumed = headersEnd + 4;
                signals.Connected();
            }
            consumed += body.Append(raw.AsSpan(consumed, filled - consumed));
            raw.AsSpan(consumed, filled - consumed).CopyTo(raw);
            filled -= consumed;

            var now = Stopwatch.GetTimestamp();
            while (body.TryTakeFrame(out var frame))
            {
                if (frame.IndexOf("\ndata: "u8) >= 0 || frame.StartsWith("data: "u8))
                {
                    if (++events > warmup)
                    {
                        latencies.Add(Stopwatch.GetElapsedTime(Sent(frame), now).TotalMilliseconds);
                        signals.Received(now);
                    }
                    else if (events == warmup)
                    {
                        signals.Warmed();
                    }
                }
            }
        }
        signals.Finished();
        // Open until the process exits: a stream that ends while the notifier is measured would cost it CPU.
        await Task.Delay(Timeout.Infinite, stop);
    }

    /// <summary>
    /// The response body without its chunked framing (Kestrel may start a chunk anywhere, even inside an event), cut
    /// into SSE messages at blank lines.
    /// </summary>
    private sealed class ChunkedBody
    {
        private readonly byte[] _text = new byte[256 * 1024];
        private int _filled;
        private int _taken;
        private int _chunkLeft;
        private bool _chunkEndDue;

        /// <summary>Takes what it can of <paramref name="raw"/>; returns how many bytes it used (the rest is an incomplete chunk header).</summary>
        public int Append(ReadOnlySpan<byte> raw)
        {
            if (_taken > 0)
            {
                _text.AsSpan(_taken, _filled - _taken).CopyTo(_text);
                _filled -= _taken;
                _taken = 0;
            }
            var used = 0;
            while (used < raw.Length)
            {
                if (_chunkLeft > 0)
                {
                    var n = Math.Min(_chunkLeft, raw.Length - used);
                    raw.Slice(used, n).CopyTo(_text.AsSpan(_filled));
                    (_filled, used, _chunkLeft) = (_filled + n, used + n, _chunkLeft - n);
                    _chunkEndDue = _chunkLeft == 0;
                    continue;
                }
                var lineEnd = raw[used..].IndexOf("\r\n"u8);
                if (lineEnd < 0)
                {
                    break;
                }
                if (_chunkEndDue)
                {
                    _chunkEndDue = false; // the CRLF after a chunk's data
                }
                else
                {
                    var size = raw.Slice(used, lineEnd);
                    var extension = size.IndexOf((byte)';');
                    _chunkLeft = int.Parse(extension < 0 ? size : size[..extension], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    if (_chunkLeft == 0)
                    {
                        throw new InvalidOperationException("The stream ended.");
                    }
                }
                used += lineEnd + 2;
            }
            return used;
        }

        public bool TryTakeFrame(out ReadOnlySpan<byte> frame)
        {
            var end = _text.AsSpan(_taken, _filled - _taken).IndexOf("\n\n"u8);
            if (end < 0)
            {
                frame = default;
                return false;
            }
            frame = _text.AsSpan(_taken, end);
            _taken += end + 2;
            return true;
        }
    }

    /// <summary>The number after the frame's last <c>"sent":</c>.</summary>
    internal static long Sent(ReadOnlySpan<byte> frame)
    {
        var at = frame.LastIndexOf("\"sent\":"u8) + "\"sent\":".Length;
        var digits = frame[at..].IndexOfAnyExceptInRange((byte)'0', (byte)'9');
        return long.Parse(digits < 0 ? frame[at..] : frame.Slice(at, digits), CultureInfo.InvariantCulture);
    }

    /// <summary>Completes at the line <paramref name="word"/>, or at the end of the input (the parent is gone).</summary>
    private static async Task ReadUntilAsync(Channel<string> input, string word, CancellationToken cancellationToken)
    {
        try
        {
            while (await input.Reader.WaitToReadAsync(cancellationToken))
            {
                if (input.Reader.TryRead(out var line) && line == word)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Completes once <see cref="Signal"/> has been called <c>n</c> times.</summary>
    private sealed class Countdown(int n)
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _left = n;

        public Task Task => _done.Task;

        public void Signal()
        {
            if (Interlocked.Decrement(ref _left) == 0)
            {
                _done.TrySetResult();
            }
        }
    }

    private static void InterlockedMax(ref long location, long value)
    {
        var current = Interlocked.Read(ref location);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref location, value, current);
            if (seen == current)
            {
                return;
            }
            current = seen;
        }
    }

    private static TimeSpan Cpu()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }
}
