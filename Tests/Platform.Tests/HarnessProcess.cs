using System.Diagnostics;

namespace Platform.Tests;

/// <summary>
/// A command of the Benchmarks harness (<c>lock-holder</c>, <c>job-worker</c>) run as a real second process, so
/// that tests contend across processes and can kill one with SIGKILL.
/// </summary>
internal sealed class HarnessProcess : IDisposable
{
    private readonly Process _process;

    private HarnessProcess(Process process) => _process = process;

    public static HarnessProcess Start(string command, params string[] args)
    {
        // Tests/Platform.Tests/bin/<configuration>/<framework>/ -> Tests/Benchmarks/bin/<configuration>/<framework>/
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var (framework, configuration, tests) = (output.Name, output.Parent!.Name, output.Parent.Parent!.Parent!.Parent!.FullName);
        var harness = Path.Combine(tests, "Benchmarks", "bin", configuration, framework, "Benchmarks.dll");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(harness);
        start.ArgumentList.Add(command);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        return new HarnessProcess(Process.Start(start)!);
    }

    /// <summary>The next line the process prints, within <paramref name="timeout"/>.</summary>
    public async Task<string> ReadLineAsync(TimeSpan timeout) =>
        await _process.StandardOutput.ReadLineAsync().WaitAsync(timeout) ?? throw new InvalidOperationException("the harness process exited");

    /// <summary>Sends one line to the process (e.g. STOP for a graceful stop).</summary>
    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>SIGKILL: no finally blocks, no release, no more renewals.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
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
