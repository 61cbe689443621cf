using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace AppHost.Tests.Telemetry;

/// <summary>One span as a service exported it over OTLP.</summary>
public sealed record ReceivedSpan(string Service, string Scope, string TraceId, string SpanId, string ParentSpanId, string Name, DateTime Start)
{
    public bool IsRoot => ParentSpanId.Length == 0;
}

/// <summary>
/// An OTLP/HTTP (protobuf) receiver for the services' exporters, as the dashboard is one: it answers every export
/// with 200 and keeps the spans of <c>/v1/traces</c> (metrics and logs are accepted and dropped). The few message
/// fields it needs are read by <see cref="OtlpTraceReader"/> (OpenTelemetry.Proto is not served on NuGet).
/// </summary>
public sealed class OtlpTraceReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();
    private readonly Task _serving;

    public OtlpTraceReceiver()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        Endpoint = new Uri($"http://127.0.0.1:{((IPEndPoint)probe.LocalEndpoint).Port}/");
        probe.Stop();
        _listener.Prefixes.Add(Endpoint.ToString());
        _listener.Start();
        _serving = ServeAsync();
    }

    /// <summary>The base address for <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (with <c>OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf</c>).</summary>
    public Uri Endpoint { get; }

    public IReadOnlyList<ReceivedSpan> Spans => [.. _spans];

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return; // stopped
            }
            try
            {
                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                if (context.Request.Url?.AbsolutePath == "/v1/traces")
                {
                    foreach (var span in OtlpTraceReader.Read(body.ToArray()))
                    {
                        _spans.Enqueue(span);
                    }
                }
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/x-protobuf";
            }
            catch (Exception)
            {
                // A body this reader does not understand fails the export, which the exporter retries or drops: the
                // test then misses spans and says so.
                context.Response.StatusCode = 400;
            }
            context.Response.Close();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _serving;
    }
}
