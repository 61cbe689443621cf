using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using static AppHost.Tests.GatewayClient;

namespace AppHost.Tests;

/// <summary>How the gateway serves the portal: its files, its pages' URLs, its headers (the browser tests are in Portal.Tests).</summary>
[Collection(SystemCollection.Name)]
public sealed class PortalServingTests(DistributedAppFixture system)
{
    [Fact]
    public async Task PortalAssetsAreNeverRateLimitedAndAreRevalidatedByETag()
    {
        using var gateway = system.CreateGatewayClient();
        string? etag = null;
        for (var i = 0; i < 15; i++) // more than the anonymous limit of 10 per window
        {
            using var response = await gateway.GetAsync("/js/app.js");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/javascript", response.Content.Headers.ContentType?.MediaType);
            Assert.False(response.Headers.Contains("X-RateLimit-Limit"), "a portal asset was counted by the rate limiter");
            etag = response.Headers.ETag?.Tag;
        }
        Assert.NotNull(etag);

        using var revalidate = new HttpRequestMessage(HttpMethod.Get, "/js/app.js");
        revalidate.Headers.IfNoneMatch.Add(EntityTagHeaderValue.Parse(etag));
        using var notModified = await gateway.SendAsync(revalidate);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/signin")]
    [InlineData("/projects")]
    [InlineData("/projects/42")]
    [InlineData("/feed")]
    [InlineData("/sessions")]
    [InlineData("/admin")]
    public async Task EveryPageUrlServesThePortalWithItsSecurityHeaders(string path)
    {
        using var gateway = system.CreateGatewayClient();
        using var response = await gateway.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<script type=\"module\" src=\"/js/app.js\"></script>", await response.Content.ReadAsStringAsync());
        Assert.True(response.Headers.CacheControl?.NoCache, "the page must be revalidated on every load");
        Assert.Equal("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            Assert.Single(response.Headers.GetValues("Content-Security-Policy")));
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
    }

    [Fact]
    public async Task UnknownPathsAre404AndApiPathsNeverFallBackToThePortal()
    {
        using var gateway = system.CreateGatewayClient();
        var login = await SignedInAsync(gateway);
        using var api = await gateway.GetAsync("/api/no-such-endpoint", login.Token);
        using var page = await gateway.GetAsync("/no-such-page");

        Assert.Equal(HttpStatusCode.NotFound, api.StatusCode);
        Assert.NotEqual("text/html", api.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotFound, page.StatusCode);
    }

    [Fact]
    public async Task EveryAnswerNamesItsTraceAndThePortalStateSaysWhetherTheCallerIsSignedIn()
    {
        using var gateway = system.CreateGatewayClient();
        var login = await SignedInAsync(gateway);

        using var anonymous = await gateway.GetAsync("/portal/state");
        using var signedIn = await gateway.GetAsync("/portal/state", login.Token);
        using var projects = await gateway.GetAsync("/api/projects", login.Token);

        Assert.False((await anonymous.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("signedIn").GetBoolean());
        Assert.True((await signedIn.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("signedIn").GetBoolean());
        Assert.True(anonymous.Headers.CacheControl?.NoStore);
        Assert.Matches(new Regex("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$"), Assert.Single(projects.Headers.GetValues("traceresponse")));
    }

    [Fact]
    public async Task AdminsListDeadJobsAndRetryOnlyDeadOnes()
    {
        using var gateway = system.CreateGatewayClient();
        var admin = await gateway.LoginAsync(system.AdminEmail, system.AdminPassword);
        var user = await SignedInAsync(gateway);

        var dead = await gateway.GetAsync<JsonElement>("/api/admin/queues/email/dead", admin.Token);
        Assert.Equal("email", dead.GetProperty("queue").GetString());
        Assert.Equal(dead.GetProperty("total").GetInt64(), dead.GetProperty("jobs").GetArrayLength());
        using (var unknown = await gateway.GetAsync("/api/admin/queues/nope/dead", admin.Token))
        {
            Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        }
        using (var badLimit = await gateway.GetAsync("/api/admin/queues/email/dead?limit=0", admin.Token))
        {
            Assert.Equal(HttpStatusCode.BadRequest, badLimit.StatusCode);
        }
        using (var notAdmin = await gateway.GetAsync("/api/admin/queues/email/dead", user.Token))
        {
            Assert.Equal(HttpStatusCode.Forbidden, notAdmin.StatusCode);
        }

        using var enqueued = await DeploymentTests.PostAsync(gateway, "/api/admin/queues/email/jobs", admin.Token,
            new { type = "send", payload = new { to = "ops@example.com", subject = "hello", body = "A job that is not dead." } });
        var jobId = (await enqueued.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("jobId").GetString()!;
        Assert.Equal(HttpStatusCode.Conflict, await gateway.SendAsync(HttpMethod.Post, $"/api/admin/jobs/{jobId}/retry", admin.Token, new { }));
        Assert.Equal(HttpStatusCode.NotFound, await gateway.SendAsync(HttpMethod.Post, "/api/admin/jobs/email-999999999/retry", admin.Token, new { }));
        Assert.Equal(HttpStatusCode.Forbidden, await gateway.SendAsync(HttpMethod.Post, $"/api/admin/jobs/{jobId}/retry", user.Token, new { }));
    }
}
