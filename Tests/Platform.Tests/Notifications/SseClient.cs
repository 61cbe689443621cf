using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Platform.Tests.Notifications;

/// <summary>
/// One message of a text/event-stream: an event (type, id, data) or a comment line. <see cref="EventId"/> is the
/// <c>id:</c> as sent (<c>epoch-n</c>); <see cref="Id"/> its number and <see cref="Epoch"/> its epoch.
/// </summary>
internal sealed record SseMessage(string? Type, string? EventId, string Data, string? Comment)
{
    public bool IsComment => Comment is not null;
    public long? Id => EventId is null ? null : long.Parse(EventId[(EventId.LastIndexOf('-') + 1)..]);
    public string? Epoch => EventId is { } id && id.LastIndexOf('-') is > 0 and var dash ? id[..dash] : null;
}

/// <summary>
/// A Server-Sent Events client that reads the wire format itself (comments included), as EventSource or
/// <c>curl -N</c> would see it.
/// </summary>
internal sealed class SseClient : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private SseClient(HttpResponseMessage response, Stream body)
    {
        _response = response;
        _reader = new StreamReader(body, Encoding.UTF8);
    }

    public static Task<SseClient> ConnectAsync(HttpClient http, string token, long? lastEventId = null,
        bool lastEventIdInQuery = false, bool byCookie = false) =>
        ConnectAsync(http, token, lastEventId?.ToString(), lastEventIdInQuery, byCookie);

    /// <summary>Resumes after an event id as the stream sent it (<c>epoch-n</c>), or any text the test sends as Last-Event-ID.</summary>
    public static async Task<SseClient> ConnectAsync(HttpClient http, string token, string? lastEventId,
        bool lastEventIdInQuery = false, bool byCookie = false)
    {
        var response = await SendAsync(http, token, lastEventId, lastEventIdInQuery, byCookie);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            Assert.Fail($"stream: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return new SseClient(response, await response.Content.ReadAsStreamAsync());
    }

    public static Task<HttpResponseMessage> SendAsync(HttpClient http, string? token, long? lastEventId = null,
        bool lastEventIdInQuery = false, bool byCookie = false) =>
        SendAsync(http, token, lastEventId?.ToString(), lastEventIdInQuery, byCookie);

    public static async Task<HttpResponseMessage> SendAsync(HttpClient http, string? token, string? lastEventId,
        bool lastEventIdInQuery = false, bool byCookie = false)
    {
        var path = "/notifications/stream" + (lastEventIdInQuery && lastEventId is { } q ? $"?lastEventId={q}" : "");
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (token is not null)
        {
            if (byCookie)
            {
                request.Headers.Add("Cookie", $"session={token}");
            }
            else
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }
        }
        if (lastEventId is { } id && !lastEventIdInQuery)
        {
            request.Headers.Add("Last-Event-ID", id);
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
    }

    /// <summary>The next message, or null when the server ended the stream. Fails after <paramref name="timeout"/>.</summary>
    public async Task<SseMessage?> ReadAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        string? type = null, comment = null;
        string? id = null;
        var data = new StringBuilder();
        var any = false;
        while (true)
        {
            string? line;
            try
            {
                line = await _reader.ReadLineAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"No complete SSE message within {timeout}.");
            }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
                return null; // the server aborted the connection
            }
            if (line is null)
            {
                return null;
            }
            if (line.Length == 0)
            {
                if (any)
                {
                    return new SseMessage(type, id, data.ToString(), comment);
                }
                continue;
            }
            any = true;
            if (line.StartsWith(':'))
            {
                comment = line[1..].Trim();
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                type = line["event: ".Length..];
            }
            else if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line["id: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                if (data.Length > 0)
                {
                    data.Append('\n');
                }
                data.Append(line["data: ".Length..]);
            }
        }
    }

    /// <summary>The next <paramref name="count"/> events, skipping comments; fails if the stream ends or stalls first.</summary>
    public async Task<List<SseMessage>> ReadEventsAsync(int count, TimeSpan? timeout = null)
    {
        var events = new List<SseMessage>(count);
        // One deadline for all: heartbeats must not keep a test waiting for events that never come.
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (events.Count < count)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"Only {events.Count} of {count} events arrived in time.");
            }
            var message = await ReadAsync(left)
                ?? throw new InvalidOperationException($"The stream ended after {events.Count} of {count} events.");
            if (!message.IsComment)
            {
                events.Add(message);
            }
        }
        return events;
    }

    /// <summary>True if the server ends the stream within <paramref name="timeout"/> (events before the end are skipped).</summary>
    public async Task<bool> EndsWithinAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        try
        {
            while (await ReadAsync(Max(deadline - DateTime.UtcNow, TimeSpan.FromMilliseconds(1))) is not null)
            {
            }
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        return ValueTask.CompletedTask;
    }
}
