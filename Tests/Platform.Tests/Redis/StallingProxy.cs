using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace Platform.Tests.Redis;

/// <summary>
/// A TCP proxy in front of a test server that can stop forwarding in both directions while keeping every connection
/// open: to the client, a stalled link (a partition, a frozen server) in which commands neither fail fast nor
/// answer, so they run into the client's timeout. Bytes held during a stall are delivered on <see cref="Resume"/>.
/// <see cref="StallReplies"/> holds only the server's replies: commands run, their answers are late (a lost reply).
/// </summary>
public sealed class StallingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly RedisServerProcess _server;
    private readonly CancellationTokenSource _closed = new();
    private readonly List<TcpClient> _sockets = [];
    private readonly Task _accepting;
    private volatile TaskCompletionSource _requests = Flowing();
    private volatile TaskCompletionSource _replies = Flowing();

    private StallingProxy(RedisServerProcess server)
    {
        _server = server;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public static StallingProxy Start(RedisServerProcess server) => new(server);

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>
    /// A connection string through the proxy with short timeouts (<paramref name="timeoutMs"/>), so a stall shows up
    /// as <c>RedisTimeoutException</c> within a test's time.
    /// </summary>
    public string ConnectionString(int timeoutMs) =>
        $"127.0.0.1:{Port},password={_server.Password},syncTimeout={timeoutMs},asyncTimeout={timeoutMs},abortConnect=false";

    /// <summary>
    /// A new connection through the proxy (see <see cref="ConnectionString"/>), returned once it answers: with short
    /// timeouts, a first command queued while a busy machine is still connecting would otherwise time out.
    /// </summary>
    public async Task<ConnectionMultiplexer> ConnectAsync(int timeoutMs)
    {
        var connection = await ConnectionMultiplexer.ConnectAsync(ConnectionString(timeoutMs));
        for (var waited = Stopwatch.StartNew(); ; await Task.Delay(50))
        {
            try
            {
                await connection.GetDatabase().PingAsync();
                return connection;
            }
            catch (Exception e) when (e is RedisConnectionException or RedisTimeoutException && waited.Elapsed < TimeSpan.FromSeconds(30))
            {
            }
        }
    }

    public void Stall()
    {
        StallReplies();
        if (_requests.Task.IsCompleted)
        {
            _requests = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void StallReplies()
    {
        if (_replies.Task.IsCompleted)
        {
            _replies = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void Resume()
    {
        _requests.TrySetResult();
        _replies.TrySetResult();
    }

    private static TaskCompletionSource Flowing()
    {
        var flowing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        flowing.SetResult();
        return flowing;
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_closed.Token);
                var upstream = new TcpClient();
                await upstream.ConnectAsync(IPAddress.Loopback, _server.Port, _closed.Token);
                lock (_sockets)
                {
                    _sockets.Add(client);
                    _sockets.Add(upstream);
                }
                _ = PumpAsync(client.GetStream(), upstream.GetStream(), () => _requests.Task);
                _ = PumpAsync(upstream.GetStream(), client.GetStream(), () => _replies.Task);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, Func<Task> flowing)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, _closed.Token)) > 0)
            {
                await flowing().WaitAsync(_closed.Token); // stalled: hold the bytes
                await to.WriteAsync(buffer.AsMemory(0, read), _closed.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            try
            {
                to.Socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _closed.CancelAsync();
        _listener.Stop();
        await _accepting;
        lock (_sockets)
        {
            _sockets.ForEach(s => s.Dispose());
        }
        _closed.Dispose();
    }
}
