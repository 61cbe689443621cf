using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Npgsql;
using Platform.Tests.Redis;

namespace Platform.Tests.Postgres;

/// <summary>
/// A real PostgreSQL server of our own: <c>initdb</c> + <c>postgres</c> from PATH in a fresh temp directory, on a
/// free loopback port, with a random password and no durability settings (fsync off: the tests restart nothing).
/// PostgreSQL refuses to run as root: as root it runs as the <c>postgres</c> user (<c>runuser</c>), as Debian's
/// package does. Shared by the store tests through <see cref="PostgresServerFixture"/>.
/// </summary>
public sealed class PostgresServerProcess : IAsyncDisposable
{
    public const string InstallHint =
        "Install PostgreSQL (Debian/Ubuntu: sudo apt-get install postgresql, then put /usr/lib/postgresql/<version>/bin on PATH; macOS: brew install postgresql)";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private Process? _process;

    private PostgresServerProcess(string binDirectory)
    {
        BinDirectory = binDirectory;
        Port = FreeLoopbackPort();
        Password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        Directory = System.IO.Directory.CreateTempSubdirectory("postgres-test-").FullName;
        if (RunsAsRoot && !OperatingSystem.IsWindows())
        {
            // The postgres user creates its data directory in here, and the tests' root process reads its logs.
            File.SetUnixFileMode(Directory, (UnixFileMode)0x1FF);
        }
    }

    public string BinDirectory { get; }
    public int Port { get; }
    public string Password { get; }
    public string Directory { get; }
    private string DataDirectory => Path.Combine(Directory, "data");

    /// <summary>The directory of <c>postgres</c> and <c>initdb</c> on PATH, or null.</summary>
    public static string? FindBinDirectory() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .FirstOrDefault(dir => File.Exists(Path.Combine(dir, "postgres")) && File.Exists(Path.Combine(dir, "initdb")));

    /// <summary>Null when the tests can run; else why not, with the install command.</summary>
    public static string? Unavailable => FindBinDirectory() is null
        ? $"Needs PostgreSQL (postgres and initdb on PATH) and none was found. {InstallHint}."
        : null;

    private static bool RunsAsRoot => !OperatingSystem.IsWindows() && Environment.UserName == "root";

    /// <summary>An Npgsql connection string to <paramref name="database"/> as the superuser.</summary>
    public string ConnectionString(string database = "postgres") =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Password={Password};Database={database};Timeout=15;Command Timeout=30";

    public static async Task<PostgresServerProcess> StartNewAsync()
    {
        var bin = FindBinDirectory() ?? throw new InvalidOperationException(
            (RedisServerProcess.UnderCi ? "CI must test on PostgreSQL and none is on PATH. " : "") + Unavailable);
        var server = new PostgresServerProcess(bin);
        try
        {
            await server.InitAsync();
            await server.StartAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>A new, empty database (one per test keeps tests apart on one server).</summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        var name = $"{prefix}_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        await using var connection = new NpgsqlConnection(ConnectionString());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync();
        return name;
    }

    private async Task InitAsync()
    {
        var passwordFile = Path.Combine(Directory, "password");
        await File.WriteAllTextAsync(passwordFile, Password);
        if (RunsAsRoot && !OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(passwordFile, (UnixFileMode)0x1A4); // 0644: readable by the postgres user
        }
        using var initdb = Process.Start(StartInfo("initdb", "-D", DataDirectory, "-U", "postgres", "--pwfile", passwordFile,
            "--auth", "scram-sha-256", "--encoding", "UTF8", "--locale", "C", "--no-sync"))!;
        var output = initdb.StandardOutput.ReadToEndAsync();
        var errors = initdb.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(StartTimeout);
        await initdb.WaitForExitAsync(timeout.Token);
        if (initdb.ExitCode != 0)
        {
            throw new InvalidOperationException($"initdb failed ({initdb.ExitCode}): {await output}{await errors}");
        }
    }

    private async Task StartAsync()
    {
        _process = Process.Start(StartInfo("postgres", "-D", DataDirectory, "-p", Port.ToString(), "-k", Directory,
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200"))!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var connection = new NpgsqlConnection(ConnectionString() + ";Pooling=false");
                await connection.OpenAsync();
                return;
            }
            catch (Exception e) when (e is NpgsqlException or SocketException && deadline.Elapsed < StartTimeout && !_process.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    private ProcessStartInfo StartInfo(string program, params string[] args)
    {
        var path = Path.Combine(BinDirectory, program);
        var start = RunsAsRoot
            ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", path, .. args])
            : new ProcessStartInfo(path, args);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        return start;
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open by a dying child: the temp directory is cleaned by the system.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
