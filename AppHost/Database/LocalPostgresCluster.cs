using System.Diagnostics;
using Aspire.Hosting;
using Microsoft.Extensions.Logging;

namespace AppHost.Database;

/// <summary>
/// The on-disk side of a local PostgreSQL: its data directory (<c>data/</c> under the working directory, made by
/// <c>initdb</c> on the first start) and the command lines that run it. PostgreSQL refuses to run as root; as root
/// every command runs as the <c>postgres</c> user (<c>setpriv</c>, which execs, so the orchestrator's stop signal
/// reaches the server itself).
/// </summary>
internal sealed class LocalPostgresCluster(string binDirectory, string workingDirectory)
{
    private string DataDirectory => Path.Combine(workingDirectory, "data");

    private static bool RunsAsRoot => !OperatingSystem.IsWindows() && Environment.UserName == "root";

    /// <summary>The executable the orchestrator starts.</summary>
    public string Command => RunsAsRoot ? "setpriv" : Path.Combine(binDirectory, "postgres");

    public void PrepareWorkingDirectory()
    {
        Directory.CreateDirectory(workingDirectory);
        if (RunsAsRoot && !OperatingSystem.IsWindows())
        {
            // The postgres user creates data/ in here (initdb) and its socket.
            File.SetUnixFileMode(workingDirectory, (UnixFileMode)0x1FF);
        }
    }

    /// <summary>The server's command line: loopback only, its socket in the working directory, on <paramref name="port"/>.</summary>
    public void AddServerArgs(IList<object> args, object port)
    {
        foreach (var arg in Prefix("postgres"))
        {
            args.Add(arg);
        }
        foreach (var arg in new[] { "-D", DataDirectory, "-k", workingDirectory, "-c", "listen_addresses=127.0.0.1", "-p" })
        {
            args.Add(arg);
        }
        args.Add(port);
    }

    /// <summary>
    /// Before each start: <c>initdb</c> when there is no data directory yet; else the superuser's password is set to
    /// <paramref name="password"/> (single-user mode), because a password generated afresh by this run would not
    /// match the one the data directory was made with.
    /// </summary>
    public async Task InitializeAsync(string password, ILogger logger, CancellationToken cancellationToken)
    {
        if (!File.Exists(Path.Combine(DataDirectory, "PG_VERSION")))
        {
            var passwordFile = Path.Combine(workingDirectory, $"pwfile-{Guid.NewGuid():N}");
            await File.WriteAllTextAsync(passwordFile, password, cancellationToken);
            try
            {
                if (RunsAsRoot && !OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(passwordFile, (UnixFileMode)0x1A4); // readable by the postgres user, for this moment
                }
                logger.LogInformation("Creating the PostgreSQL data directory {Directory} (initdb)", DataDirectory);
                await RunAsync("initdb", ["-D", DataDirectory, "-U", "postgres", "--pwfile", passwordFile,
                    "--auth", "scram-sha-256", "--encoding", "UTF8", "--locale", "C"], null, logger, cancellationToken);
            }
            finally
            {
                File.Delete(passwordFile);
            }
            return;
        }

        logger.LogInformation("Using the PostgreSQL data directory {Directory}", DataDirectory);
        await RunAsync("postgres", ["--single", "-D", DataDirectory, "-j", "postgres"],
            $"ALTER ROLE postgres PASSWORD '{password}';\n", logger, cancellationToken);
    }

    private IEnumerable<string> Prefix(string program)
    {
        var path = Path.Combine(binDirectory, program);
        return RunsAsRoot ? ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", path] : [path];
    }

    private async Task RunAsync(string program, string[] args, string? input, ILogger logger, CancellationToken cancellationToken)
    {
        var prefix = Prefix(program).ToList();
        var start = new ProcessStartInfo(RunsAsRoot ? "setpriv" : prefix[0], [.. RunsAsRoot ? prefix : prefix.Skip(1), .. args])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new DistributedApplicationException($"Could not start {program}.");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
        }
        process.StandardInput.Close();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new DistributedApplicationException(
                $"{program} failed with exit code {process.ExitCode} (the data directory is {DataDirectory}): {await errors}{await output}");
        }
    }
}
