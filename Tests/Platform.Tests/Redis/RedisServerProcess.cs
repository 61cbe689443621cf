using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using StackExchange.Redis;

namespace Platform.Tests.Redis;

/// <summary>
/// A real <c>redis-server</c> of our own: a free loopback port, a fresh temp directory, a random password,
/// no persistence. It can be stopped, killed and started again on the same port and password, so tests can
/// take Redis away from the code under test and give it back. Shared by the tests and the benchmarks.
/// </summary>
public sealed class RedisServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);
    private Process? _process;

    public RedisServerProcess()
    {
        Executable = FindRedisServer();
        Port = FreeLoopbackPort();
        Password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        Directory = System.IO.Directory.CreateTempSubdirectory("redis-test-").FullName;
    }

    public string Executable { get; }
    public int Port { get; }
    public string Password { get; }
    public string Directory { get; }
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The StackExchange.Redis connection string, in the shape Aspire hands to services.</summary>
    public string ConnectionString => $"127.0.0.1:{Port},password={Password}";

    public static async Task<RedisServerProcess> StartNewAsync()
    {
        var server = new RedisServerProcess();
        try
        {
            await server.StartAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the server and returns once it answers an authenticated PING.</summary>
    public async Task StartAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"redis-server is already running on port {Port}.");
        }

        var start = new ProcessStartInfo(Executable)
        {
            WorkingDirectory = Directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "--port", Port.ToString(), "--bind", "127.0.0.1", "--requirepass", Password,
            "--save", "", "--appendonly", "no", "--dir", Directory,
        })
        {
            start.ArgumentList.Add(arg);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {Executable}.");
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await WaitUntilAnsweringAsync();
    }

    /// <summary>Stops the server the hard way (SIGKILL), as a crash or an outage would.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        _process?.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A temp directory left behind is harmless; failing a test run over it is not.
        }
    }

    private async Task WaitUntilAnsweringAsync()
    {
        // Poll the port with plain sockets (cheap, fails in microseconds) until the server listens, then
        // prove it answers an authenticated command.
        var deadline = Stopwatch.StartNew();
        while (!await AcceptsConnectionsAsync())
        {
            if (_process!.HasExited)
            {
                throw new InvalidOperationException($"redis-server exited with code {_process.ExitCode} on port {Port}.");
            }
            if (deadline.Elapsed > StartTimeout)
            {
                throw new TimeoutException($"redis-server did not listen on port {Port} within {StartTimeout}.");
            }
            await Task.Delay(20);
        }
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"{ConnectionString},abortConnect=true");
        await connection.GetDatabase().PingAsync();
    }

    private async Task<bool> AcceptsConnectionsAsync()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, Port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string FindRedisServer()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "redis-server"))
            .FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException(
                "These tests run a real redis-server and none is on PATH. Install it " +
                "(Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis), or run .ci/run.");
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
