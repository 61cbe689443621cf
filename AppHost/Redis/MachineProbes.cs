using System.Diagnostics;

namespace AppHost.Redis;

/// <summary>The two questions the runtime selection asks of this machine.</summary>
public static class MachineProbes
{
    /// <summary>
    /// True when a Docker or Podman engine answers within <paramref name="timeout"/>. A client with no daemon
    /// behind it (as on CI) fails fast; an engine that hangs counts as absent.
    /// </summary>
    public static bool ContainerEngineAnswers(TimeSpan timeout)
    {
        // Aspire's own setting chooses the engine; without it, Docker first as Aspire does.
        var configured = Environment.GetEnvironmentVariable("ASPIRE_CONTAINER_RUNTIME");
        string[] engines = string.IsNullOrWhiteSpace(configured) ? ["docker", "podman"] : [configured];
        return engines.Any(engine => FindOnPath(engine) is { } path && Answers(path, timeout));
    }

    /// <summary>The full path of <paramref name="program"/> on PATH, or null.</summary>
    public static string? FindOnPath(string program)
    {
        var names = OperatingSystem.IsWindows() ? [program + ".exe", program] : new[] { program };
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var name in names)
            {
                var candidate = Path.Combine(dir, name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }
        return null;
    }

    private static bool Answers(string engine, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(engine, ["info", "--format", "{{.ServerVersion}}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        try
        {
            using var process = Process.Start(start);
            if (process is null)
            {
                return false;
            }
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                return false;
            }
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
