using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Platform.Tests.Notifications;
using Xunit.Abstractions;
using static AppHost.Tests.GatewayClient;

namespace AppHost.Tests.Telemetry;

/// <summary>What the dashboard's Traces page shows, read from the spans the services export.</summary>
[Collection(TracedSystemCollection.Name)]
public sealed class TraceTests(TracedSystemFixture system, ITestOutputHelper output)
{
    /// <summary>
    /// Enough for a span to reach the receiver: the exporters send every 200 ms, and the Redis instrumentation exports a
    /// command made outside any span only every 10 s.
    /// </summary>
    private static readonly TimeSpan ExportDelay = TimeSpan.FromSeconds(12);

    [Fact]
    public async Task OneDeploymentIsOneTraceFromTheRequestThroughItsBuildingBlocksAndTheJobToTheDeliveries()
    {
        using var gateway = system.CreateGatewayClient();
        gateway.Timeout = Timeout.InfiniteTimeSpan;
        var owner = await SignedInAsync(gateway);
        var project = await gateway.CreateProjectAsync(owner.Token, "traced");
        await using var stream = await SseClient.ConnectAsync(gateway, owner.Token);

        var traceId = ActivityTraceId.CreateRandom().ToHexString();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/projects/{project.Id}/deployments")
        {
            Content = JsonContent.Create(new { branch = "main", environment = "staging" }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", owner.Token);
        request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");
        using var response = await gateway.SendAsync(request);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var steps = await stream.ReadEventsAsync(4, TimeSpan.FromSeconds(60));
        Assert.All(steps, e => Assert.Equal("deployment_status", e.Type));

        (string Service, string Name)[] expected =
        [
            ("api", "POST"), ("api", "session validate"), ("api", "ratelimit decide"), ("api", "job enqueue deployment"),
            ("worker", "job claim deployment"), ("worker", "job process deployment"), ("worker", "notify publish deployment_status"),
            ("notifier", "notify deliver deployment_status"),
        ];
        var trace = await WaitForTraceAsync(traceId, expected);
        var incoming = Assert.Single(trace, s => s.Service == "api" && s.Scope == "Microsoft.AspNetCore" && s.Name.StartsWith("POST ", StringComparison.Ordinal));
        // The building blocks of the request are its children, by name.
        foreach (var block in new[] { "session validate", "ratelimit decide", "job enqueue deployment" })
        {
            Assert.Contains(trace, s => s.Name == block && s.ParentSpanId == incoming.SpanId);
        }
        // Four status events, each published by the job and delivered by the notifier, in this one trace.
        Assert.Equal(4, trace.Count(s => s.Name == "notify deliver deployment_status"));

        // A cached read: its first answer is looked up and stored, the second found, each as a child of its request.
        foreach (var (found, blocks) in new[] { (false, new[] { "outputcache lookup", "outputcache store" }), (true, ["outputcache lookup"]) })
        {
            var readTrace = ActivityTraceId.CreateRandom().ToHexString();
            using var read = new HttpRequestMessage(HttpMethod.Get, $"/api/projects/{project.Id}");
            read.Headers.Authorization = new AuthenticationHeaderValue("Bearer", owner.Token);
            read.Headers.Add("traceparent", $"00-{readTrace}-{ActivitySpanId.CreateRandom()}-01");
            using var answer = await gateway.SendAsync(read);
            Assert.Equal((HttpStatusCode.OK, found ? "HIT" : "MISS"), (answer.StatusCode, answer.Headers.GetValues("X-Cache").Single()));
            var spans = await WaitForTraceAsync(readTrace, [.. blocks.Select(b => ("api", b)), ("api", "GET")]);
            // The request's span, not a Redis GET command's: those are named for the command and reach the receiver late
            // (the Redis instrumentation flushes every 10 s), so they may or may not be here yet.
            var get = Assert.Single(spans, s => s.Scope == "Microsoft.AspNetCore" && s.Name.StartsWith("GET ", StringComparison.Ordinal));
            Assert.All(blocks, b => Assert.Contains(spans, s => s.Name == b && s.ParentSpanId == get.SpanId));
        }
    }

    [Fact]
    public async Task AnIdleMinuteAddsNoTrace()
    {
        var start = DateTime.UtcNow;
        await Task.Delay(TimeSpan.FromMinutes(1));
        var end = DateTime.UtcNow;
        await Task.Delay(ExportDelay);

        var started = system.Receiver.Spans.GroupBy(s => s.TraceId)
            .Where(t => t.Min(s => s.Start) is var first && first >= start && first < end)
            .ToArray();
        output.WriteLine($"Traces started during an idle minute: {started.Length}");
        foreach (var names in started.GroupBy(t => string.Join(" + ", t.Select(s => $"{s.Service}: {s.Name}").Distinct().Order())))
        {
            output.WriteLine($"  {names.Count()} x {names.Key}");
        }
        Assert.True(started.Length == 0, $"{started.Length} traces started during an idle minute, e.g. " +
            string.Join(", ", started.Take(5).Select(t => string.Join(" + ", t.Select(s => $"{s.Service}: {s.Name}")))));
    }

    /// <summary>The spans of one trace, once it holds every expected (service, name prefix).</summary>
    private async Task<ReceivedSpan[]> WaitForTraceAsync(string traceId, (string Service, string Name)[] expected)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var trace = system.Receiver.Spans.Where(s => s.TraceId == traceId).ToArray();
            var missing = expected.Where(e => !trace.Any(s => s.Service == e.Service && s.Name.StartsWith(e.Name, StringComparison.Ordinal))).ToArray();
            if (missing.Length == 0)
            {
                return trace;
            }
            if (waited.Elapsed > ExportDelay + TimeSpan.FromSeconds(20))
            {
                Assert.Fail($"Trace {traceId} lacks {string.Join(", ", missing.Select(m => $"{m.Service}: {m.Name}"))}; it has " +
                    string.Join(", ", trace.Select(s => $"{s.Service}: {s.Name}")));
            }
            await Task.Delay(200);
        }
    }
}
