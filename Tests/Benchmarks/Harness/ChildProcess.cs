using System.Diagnostics;
using System.Threading.Channels;

namespace Benchmarks.Harness;

/// <summary>
/// A command of this harness run as a second process (e.g. <c>fanout-clients</c>), spoken to by lines on its standard
/// input and output. Killed on dispose if it has not exited.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();

    private ChildProcess(Process process)
    {
        _process = process;
        // One reader for the life of the process, so a wait that times out leaves no read pending on the stream.
        _ = Task.Run(async () =>
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } line)
            {
                _lines.Writer.TryWrite(line);
            }
            _lines.Writer.TryComplete();
        });
    }

    public static ChildProcess Start(string command, params string[] args)
    {
        // Under `dotnet run` the harness runs as its own executable; under `dotnet Benchmarks.dll` the host needs the dll.
        var host = Environment.ProcessPath!;
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            start.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        }
        start.ArgumentList.Add(command);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        return new ChildProcess(Process.Start(start)!);
    }

    /// <summary>The next line the process prints, within <paramref name="timeout"/>.</summary>
    public async Task<string> ReadLineAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            return await _lines.Reader.ReadAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"The child process printed nothing within {timeout}.");
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException("The child process exited.");
        }
    }

    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }
}
