using System.Diagnostics;

namespace Platform.Tests.Locking;

/// <summary>The Benchmarks harness's <c>lock-holder</c> command, run as a real second process.</summary>
internal sealed class LockHolderProcess : IDisposable
{
    private readonly Process _process;

    private LockHolderProcess(Process process) => _process = process;

    public static LockHolderProcess Start(params string[] args)
    {
        // Tests/Platform.Tests/bin/<configuration>/<framework>/ -> Tests/Benchmarks/bin/<configuration>/<framework>/
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var (framework, configuration, tests) = (output.Name, output.Parent!.Name, output.Parent.Parent!.Parent!.Parent!.FullName);
        var harness = Path.Combine(tests, "Benchmarks", "bin", configuration, framework, "Benchmarks.dll");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(harness);
        start.ArgumentList.Add("lock-holder");
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        return new LockHolderProcess(Process.Start(start)!);
    }

    /// <summary>The next line the process prints, within <paramref name="timeout"/>.</summary>
    public async Task<string> ReadLineAsync(TimeSpan timeout) =>
        await _process.StandardOutput.ReadLineAsync().WaitAsync(timeout) ?? throw new InvalidOperationException("lock-holder exited");

    /// <summary>SIGKILL: no finally blocks, no release, no more renewals.</summary>
    public void Kill() => _process.Kill(entireProcessTree: true);

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }
}
