using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Platform.Tests.Notifications;
using static AppHost.Tests.GatewayClient;

namespace AppHost.Tests;

/// <summary>The deployment flow through the gateway: api records and enqueues, the worker runs the (simulated) pipeline.</summary>
[Collection(SystemCollection.Name)]
public sealed class DeploymentTests(DistributedAppFixture system)
{
    public sealed record Accepted(string DeploymentId, string JobId, string ProjectId);
    public sealed record Job(string Id, string Queue, string Type, string State, int Priority, int Attempts, string? Error, string? Result);

    [Fact]
    public async Task AMemberDeploysAProjectAndSeesItsJobCompleteAndListedWhileOthersCannotSeeEither()
    {
        using var gateway = system.CreateGatewayClient();
        var owner = await SignedInAsync(gateway);
        var stranger = await SignedInAsync(gateway);
        var project = await gateway.CreateProjectAsync(owner.Token, "deployed");

        using var response = await PostAsync(gateway, $"/api/projects/{project.Id}/deployments", owner.Token, new { branch = "main", environment = "production" });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = (await response.Content.ReadFromJsonAsync<Accepted>())!;
        Assert.Equal($"/api/jobs/{accepted.JobId}", response.Headers.Location?.OriginalString);
        Assert.Equal(project.Id, accepted.ProjectId);

        var done = await WaitForJobAsync(gateway, accepted.JobId, owner.Token, "completed");
        Assert.Equal(("deployment", 10, 1), (done.Queue, done.Priority, done.Attempts));
        Assert.Contains("succeeded", done.Result);

        using (var second = await PostAsync(gateway, $"/api/projects/{project.Id}/deployments", owner.Token, new { branch = "feature/x", environment = "staging" }))
        {
            Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
            var secondJob = (await second.Content.ReadFromJsonAsync<Accepted>())!.JobId;
            var listed = await gateway.GetAsync<JsonElement[]>($"/api/projects/{project.Id}/deployments", owner.Token);
            Assert.Equal([secondJob, accepted.JobId], listed.Select(d => d.GetProperty("jobId").GetString()));
            Assert.Equal(("main", "production", "completed", owner.User.Id), (listed[1].GetProperty("branch").GetString(),
                listed[1].GetProperty("environment").GetString(), listed[1].GetProperty("state").GetString(), listed[1].GetProperty("requestedBy").GetString()));
        }

        // A job id is not a capability: another user gets 404 for it, as for a job that does not exist.
        using var probe = await gateway.GetAsync($"/api/jobs/{accepted.JobId}", stranger.Token);
        Assert.Equal(HttpStatusCode.NotFound, probe.StatusCode);
        using var deployOthers = await PostAsync(gateway, $"/api/projects/{project.Id}/deployments", stranger.Token, new { branch = "main", environment = "staging" });
        Assert.Equal(HttpStatusCode.Forbidden, deployOthers.StatusCode);
        using var listOthers = await gateway.GetAsync($"/api/projects/{project.Id}/deployments", stranger.Token);
        Assert.Equal(HttpStatusCode.Forbidden, listOthers.StatusCode);
    }

    [Fact]
    public async Task AMembersStreamShowsEveryStepInTheRequestsTraceWhileAStrangerSeesNoneAndOnlyAdminsSeeTheProject()
    {
        using var gateway = system.CreateGatewayClient();
        gateway.Timeout = Timeout.InfiniteTimeSpan;
        var admin = await gateway.LoginAsync(system.AdminEmail, system.AdminPassword);
        var owner = await SignedInAsync(gateway);
        var member = await SignedInAsync(gateway);
        var stranger = await SignedInAsync(gateway);
        await using var adminStream = await SseClient.ConnectAsync(gateway, admin.Token);
        await using var memberStream = await SseClient.ConnectAsync(gateway, member.Token);
        await using var strangerStream = await SseClient.ConnectAsync(gateway, stranger.Token);

        var project = await gateway.CreateProjectAsync(owner.Token, "watched");
        var created = Assert.Single(await adminStream.ReadEventsAsync(1, TimeSpan.FromSeconds(30)));
        Assert.Equal("project_created", created.Type);
        Assert.Equal(project.Id, Payload(created).GetProperty("projectId").GetString());
        Assert.Equal(HttpStatusCode.NoContent,
            await gateway.SendAsync(HttpMethod.Post, $"/api/projects/{project.Id}/members", owner.Token, new { userId = member.User.Id }));

        // The client starts a trace; the api's enqueue, the worker's handler and each published event continue it.
        var traceId = ActivityTraceId.CreateRandom();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/projects/{project.Id}/deployments")
        {
            Content = JsonContent.Create(new { branch = "main", environment = "staging" }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", owner.Token);
        request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");
        using var response = await gateway.SendAsync(request);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = (await response.Content.ReadFromJsonAsync<Accepted>())!;

        var steps = await memberStream.ReadEventsAsync(4, TimeSpan.FromSeconds(60));
        Assert.All(steps, e => Assert.Equal("deployment_status", e.Type));
        Assert.Equal(["queued", "building", "deploying", "succeeded"], steps.Select(e => Payload(e).GetProperty("status").GetString()));
        Assert.All(steps, e => Assert.Equal((project.Id, accepted.DeploymentId, accepted.JobId),
            (Payload(e).GetProperty("projectId").GetString(), Payload(e).GetProperty("deploymentId").GetString(), Payload(e).GetProperty("jobId").GetString())));
        Assert.All(steps, e => Assert.StartsWith($"00-{traceId}-", JsonDocument.Parse(e.Data).RootElement.GetProperty("traceparent").GetString()));

        // A marker everyone may see: the stranger's and the admin's next event is the marker itself, so no
        // deployment event reached them before it; the member saw no project_created either.
        using var alert = await PostAsync(gateway, "/notifications/alerts", admin.Token, new { message = "marker", severity = "info" });
        Assert.Equal(HttpStatusCode.Accepted, alert.StatusCode);
        var marker = (await alert.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        foreach (var stream in new[] { strangerStream, adminStream, memberStream })
        {
            var next = Assert.Single(await stream.ReadEventsAsync(1, TimeSpan.FromSeconds(30)));
            Assert.Equal(("system_alert", marker), (next.Type, next.Id!.Value));
        }
    }

    private static JsonElement Payload(SseMessage message) => JsonDocument.Parse(message.Data).RootElement.GetProperty("payload");

    [Fact]
    public async Task AStagingDeploymentGetsTheDefaultPriorityAndAFailingBuildEndsFailedWithoutRetry()
    {
        using var gateway = system.CreateGatewayClient();
        var owner = await SignedInAsync(gateway);
        var project = await gateway.CreateProjectAsync(owner.Token, "failing");

        using var response = await PostAsync(gateway, $"/api/projects/{project.Id}/deployments", owner.Token, new { branch = "fail/broken-build", environment = "staging" });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = (await response.Content.ReadFromJsonAsync<Accepted>())!;

        var failed = await WaitForJobAsync(gateway, accepted.JobId, owner.Token, "failed");
        Assert.Equal((0, 1), (failed.Priority, failed.Attempts));
        Assert.Contains("simulated", failed.Error);
    }

    [Fact]
    public async Task BadDeploymentsAndBadJobsAre400And404AndEnqueueNothing()
    {
        using var gateway = system.CreateGatewayClient();
        var admin = await gateway.LoginAsync(system.AdminEmail, system.AdminPassword);
        var owner = await SignedInAsync(gateway);
        var project = await gateway.CreateProjectAsync(owner.Token, "strict");
        var before = await ProbeSequenceAsync(gateway, admin.Token);

        foreach (var body in new object[] { new { environment = "staging" }, new { branch = "has space", environment = "staging" }, new { branch = "main", environment = "" } })
        {
            using var bad = await PostAsync(gateway, $"/api/projects/{project.Id}/deployments", owner.Token, body);
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
        }
        using (var missing = await PostAsync(gateway, "/api/projects/999999/deployments", owner.Token, new { branch = "main", environment = "staging" }))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        var tooBig = new string('x', 70 * 1024);
        var badJobs = new (string Queue, HttpContent Content, string Field)[]
        {
            ("nosuchqueue", JsonContent.Create(new { type = "x", payload = new { } }), "queue"),
            ("email", JsonContent.Create(new { type = "x", payload = new { text = tooBig } }), "payload"),
            ("email", new StringContent("{\"type\": \"x\", \"payload\": {", System.Text.Encoding.UTF8, "application/json"), ""),
            ("email", JsonContent.Create(new { type = "x", payload = new { }, delaySeconds = -5 }), "delaySeconds"),
        };
        foreach (var (queue, content, field) in badJobs)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/admin/queues/{queue}/jobs") { Content = content };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", admin.Token);
            using var bad = await gateway.SendAsync(request);
            var text = await bad.Content.ReadAsStringAsync();
            Assert.True(bad.StatusCode == HttpStatusCode.BadRequest, $"{queue} {field}: {(int)bad.StatusCode} {text}");
            Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
            Assert.Contains(field, text);
        }
        using (var forbidden = await PostAsync(gateway, "/api/admin/queues/email/jobs", owner.Token, new { type = "x", payload = new { } }))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        }

        // Nothing reached the queue: the next job id is the one right after the probe's (tests run one at a time).
        Assert.Equal(before + 1, await ProbeSequenceAsync(gateway, admin.Token));
        var counts = await gateway.GetAsync<JsonElement[]>("/api/admin/queues", admin.Token);
        Assert.Equal(["deployment", "provision", "email"], counts.Select(c => c.GetProperty("queue").GetString()));
    }

    /// <summary>Enqueues (and cancels) a delayed probe job on the email queue; returns its sequence number (ids are queue-epoch-n).</summary>
    private static async Task<long> ProbeSequenceAsync(HttpClient gateway, string adminToken)
    {
        using var response = await PostAsync(gateway, "/api/admin/queues/email/jobs", adminToken, new { type = "probe", payload = new { }, delaySeconds = 3600 });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var jobId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("jobId").GetString()!;
        Assert.Equal(HttpStatusCode.NoContent, await gateway.SendAsync(HttpMethod.Post, $"/api/admin/jobs/{jobId}/cancel", adminToken));
        return long.Parse(jobId[(jobId.LastIndexOf('-') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    internal static async Task<HttpResponseMessage> PostAsync(HttpClient gateway, string path, string token, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await gateway.SendAsync(request);
    }

    internal static async Task<Job> WaitForJobAsync(HttpClient gateway, string jobId, string token, string state)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var job = await gateway.GetAsync<Job>($"/api/jobs/{jobId}", token);
            if (job.State == state)
            {
                return job;
            }
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(60), $"job {jobId} is {job.State} (error: {job.Error}) after 60 s, expected {state}");
            await Task.Delay(200);
        }
    }
}
