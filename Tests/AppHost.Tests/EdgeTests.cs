using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Platform.Tests.Notifications;
using static AppHost.Tests.GatewayClient;

namespace AppHost.Tests;

/// <summary>
/// The system at its edge, as callers from many addresses, behind a proxy or not, reach it through the public api
/// endpoint: each caller counted as itself, sign-in limits that no spelling escapes, no answer served to the wrong
/// caller. Each test speaks from addresses of its own (127.0.N.x), so their limits never meet.
/// </summary>
[Collection(EdgeCollection.Name)]
public sealed class EdgeTests(EdgeFixture system)
{
    private const int AnonymousLimit = 10;
    private const int SignInAttemptsPerEmail = 10;

    private static IPAddress Ip(string address) => IPAddress.Parse(address);

    [Fact]
    public async Task TwoSourceAddressesThroughThePublicEndpointHaveSeparateAnonymousLimits()
    {
        using var first = system.CreateGatewayClient(Ip("127.0.1.1"));
        using var second = system.CreateGatewayClient(Ip("127.0.1.2"));

        for (var i = 0; i < AnonymousLimit; i++)
        {
            using var admitted = await first.GetAsync("/api/about");
            Assert.Equal(HttpStatusCode.OK, admitted.StatusCode);
        }
        using (var refused = await first.GetAsync("/api/about"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        }

        using var other = await second.GetAsync("/api/about");
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        Assert.Equal("9", Header(other, "X-RateLimit-Remaining"));
    }

    [Fact]
    public async Task ThirtyOneFailedSignInsFromOneAddressDoNotStopASignInFromAnother()
    {
        var email = NewEmail();
        using (var auth = system.CreateAuthClient())
        {
            await auth.RegisterAsync(email);
        }
        using var attacker = system.CreateGatewayClient(Ip("127.0.2.1"));
        using var user = system.CreateGatewayClient(Ip("127.0.2.2"));

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 31; i++)
        {
            using var attempt = await attacker.PostAsJsonAsync("/auth/login", new { email = NewEmail(), password = "not the password" });
            statuses.Add(attempt.StatusCode);
        }
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
        Assert.Equal(AnonymousLimit, statuses.Count(s => s == HttpStatusCode.Unauthorized));

        using var signIn = await user.PostAsJsonAsync("/auth/login", new { email, password = Password });
        Assert.Equal(HttpStatusCode.OK, signIn.StatusCode);
    }

    [Fact]
    public async Task AForgedForwardedForFromAnUntrustedPeerChangesNothingAndFromTheTrustedProxyItIsHonoured()
    {
        using var untrusted = system.CreateGatewayClient(Ip("127.0.3.1"));
        for (var i = 0; i < AnonymousLimit; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await AboutAsync(untrusted, forwardedFor: $"203.0.113.{i}")).Status);
        }
        Assert.Equal(HttpStatusCode.TooManyRequests, (await AboutAsync(untrusted, forwardedFor: "203.0.113.99")).Status);

        using var proxy = system.CreateGatewayClient(EdgeFixture.TrustedProxy);
        for (var i = 0; i < AnonymousLimit; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await AboutAsync(proxy, forwardedFor: "198.51.100.7")).Status);
        }
        Assert.Equal(HttpStatusCode.TooManyRequests, (await AboutAsync(proxy, forwardedFor: "198.51.100.7")).Status);
        // Another client behind the proxy is another caller; only the entry the proxy appended (the right-most) counts,
        // whatever the client wrote to its left.
        Assert.Equal((HttpStatusCode.OK, "9"), await AboutAsync(proxy, forwardedFor: "198.51.100.8"));
        Assert.Equal(HttpStatusCode.TooManyRequests, (await AboutAsync(proxy, forwardedFor: "198.51.100.8, 198.51.100.7")).Status);
    }

    [Fact]
    public async Task IPv6CallersArePartitionedPerSlash64()
    {
        using var proxy = system.CreateGatewayClient(EdgeFixture.TrustedProxy);
        for (var i = 1; i <= AnonymousLimit; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await AboutAsync(proxy, forwardedFor: $"2001:db8:1:2::{i:x}")).Status);
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, (await AboutAsync(proxy, forwardedFor: "2001:db8:1:2:ffff:ffff:ffff:ffff")).Status);
        Assert.Equal((HttpStatusCode.OK, "9"), await AboutAsync(proxy, forwardedFor: "2001:db8:1:3::1"));
    }

    [Fact]
    public async Task ForwardedProtoHttpsGivesASecureCookieFromTheTrustedProxyOnly()
    {
        var email = NewEmail();
        using (var auth = system.CreateAuthClient())
        {
            await auth.RegisterAsync(email);
        }

        using var proxy = system.CreateGatewayClient(EdgeFixture.TrustedProxy);
        var viaProxy = await SessionCookieAsync(proxy, email, forwardedFor: "198.51.100.20");
        Assert.Contains("secure", viaProxy.Split(';', StringSplitOptions.TrimEntries), StringComparer.OrdinalIgnoreCase);

        using var direct = system.CreateGatewayClient(Ip("127.0.5.1"));
        var forged = await SessionCookieAsync(direct, email, forwardedFor: null);
        Assert.DoesNotContain("secure", forged.Split(';', StringSplitOptions.TrimEntries), StringComparer.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task EverySpellingOfASignInCountsAgainstTheAccountItSignsIn()
    {
        var email = NewEmail();
        using (var auth = system.CreateAuthClient())
        {
            await auth.RegisterAsync(email);
        }
        var wrong = "not the password";
        var attempts = new (string Path, string Body)[]
        {
            ("/auth/login/", Json(new { email, password = wrong })),
            ("/auth/login/", Json(new { email, password = wrong })),
            ("/AUTH/LOGIN", Json(new { email, password = wrong })),
            ("/Auth/Login/", Json(new { email, password = wrong })),
            ("/auth/login", Json(new { Email = email, password = wrong })),
            ("/auth/login", Json(new { EMAIL = $"  {email.ToUpperInvariant()} ", password = wrong })),
            ("/auth/login", $$"""{"email":"decoy@example.com","Email":"{{email}}","password":"{{wrong}}"}"""),
            ("/auth/login", $$"""{"email":"decoy@example.com","Email":"{{email}}","password":"{{wrong}}"}"""),
            ("/auth/login", Json(new { email, password = wrong })),
            ("/auth/login", Json(new { email, password = wrong })),
        };
        Assert.Equal(SignInAttemptsPerEmail, attempts.Length);

        // Each from an address of its own: only the per-account limit can add them up.
        var address = 1;
        foreach (var (path, body) in attempts)
        {
            using var client = system.CreateGatewayClient(Ip($"127.0.6.{address++}"));
            using var response = await PostJsonAsync(client, path, body);
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{path} {body}: {(int)response.StatusCode}, expected a failed sign-in (401)");
        }
        // Encoded slashes are not the sign-in path: they reach no sign-in at all.
        foreach (var path in new[] { "/auth/login%2F", "/auth%2Flogin", "/auth/login%2f" })
        {
            using var client = system.CreateGatewayClient(Ip($"127.0.6.{address++}"));
            using var response = await PostJsonAsync(client, path, Json(new { email, password = Password }));
            // 404, or 405 where the portal's fallback serves only GET at that path: either way no sign-in ran.
            Assert.True(response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed,
                $"{path}: {(int)response.StatusCode}, expected 404 or 405");
        }

        using var last = system.CreateGatewayClient(Ip($"127.0.6.{address}"));
        using var eleventh = await PostJsonAsync(last, "/auth/login", Json(new { email, password = Password }));
        Assert.Equal(HttpStatusCode.TooManyRequests, eleventh.StatusCode);
    }

    [Fact]
    public async Task TheAdminEmailParameterNamesTheAdmin()
    {
        using var gateway = system.CreateGatewayClient(Ip("127.0.7.1"));

        var admin = await gateway.LoginAsync(system.AdminEmail, system.AdminPassword);
        Assert.Contains("admin", admin.User.Roles);

        using var defaultAdmin = await gateway.PostAsJsonAsync("/auth/login", new { email = "admin@example.com", password = system.AdminPassword });
        Assert.Equal(HttpStatusCode.Unauthorized, defaultAdmin.StatusCode);
    }

    [Fact]
    public async Task ADemotedAdminsNextReadOfAProjectTheyAreNotInIsForbiddenNotACachedAnswer()
    {
        using var auth = system.CreateAuthClient();
        using var gateway = system.CreateGatewayClient(Ip("127.0.8.1"));
        var admin = await auth.LoginAsync(system.AdminEmail, system.AdminPassword);
        var owner = await SignedInAsync(auth);
        var promoted = await SignedInAsync(auth);
        var project = await gateway.CreateProjectAsync(owner.Token, "not theirs");
        Assert.Equal(HttpStatusCode.OK, await auth.SendAsync(HttpMethod.Put, $"/auth/users/{promoted.User.Id}/tier", admin.Token, new { tier = "admin" }));

        var asAdmin = await OutputCacheTests.ReadAsync(gateway, $"/api/projects/{project.Id}", promoted.Token);
        var again = await OutputCacheTests.ReadAsync(gateway, $"/api/projects/{project.Id}", promoted.Token);
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK, "HIT"), (asAdmin.Status, again.Status, again.Cache));

        Assert.Equal(HttpStatusCode.OK, await auth.SendAsync(HttpMethod.Put, $"/auth/users/{promoted.User.Id}/tier", admin.Token, new { tier = "user" }));
        var demoted = await OutputCacheTests.ReadAsync(gateway, $"/api/projects/{project.Id}", promoted.Token);

        Assert.Equal(HttpStatusCode.Forbidden, demoted.Status);
    }

    [Fact]
    public async Task ACacheHitCarriesTheRateLimitHeadersOfItsOwnRequest()
    {
        using var auth = system.CreateAuthClient();
        using var gateway = system.CreateGatewayClient(Ip("127.0.9.1"));
        var user = await SignedInAsync(auth);
        var project = await gateway.CreateProjectAsync(user.Token, "counted");

        using var miss = await gateway.GetAsync($"/api/projects/{project.Id}", user.Token);
        using var hit = await gateway.GetAsync($"/api/projects/{project.Id}", user.Token);
        Assert.Equal(("MISS", "HIT"), (Header(miss, "X-Cache"), Header(hit, "X-Cache")));
        Assert.Equal(long.Parse(Header(miss, "X-RateLimit-Remaining")) - 1, long.Parse(Header(hit, "X-RateLimit-Remaining")));

        // An entry shared by every caller (a profile) carries each caller's own tier, never the one of who filled it.
        var admin = await auth.LoginAsync(system.AdminEmail, system.AdminPassword);
        using var filled = await gateway.GetAsync($"/api/users/{user.User.Id}", user.Token);
        using var sharedHit = await gateway.GetAsync($"/api/users/{user.User.Id}", admin.Token);
        Assert.Equal(("MISS", "HIT"), (Header(filled, "X-Cache"), Header(sharedHit, "X-Cache")));
        Assert.Equal(("100", "10000"), (Header(filled, "X-RateLimit-Limit"), Header(sharedHit, "X-RateLimit-Limit")));
        Assert.StartsWith("\"tier-admin\";", Header(sharedHit, "RateLimit"));
    }

    [Fact]
    public async Task JunkQueryStringsAreServedFromTheSameEntry()
    {
        using var auth = system.CreateAuthClient();
        using var gateway = system.CreateGatewayClient(Ip("127.0.10.1"));
        var user = await SignedInAsync(auth);
        var project = await gateway.CreateProjectAsync(user.Token, "no junk");
        Assert.Equal("MISS", (await OutputCacheTests.ReadAsync(gateway, $"/api/projects/{project.Id}", user.Token)).Cache);

        var caches = new List<string?>();
        for (var i = 1; i <= 50; i++)
        {
            caches.Add((await OutputCacheTests.ReadAsync(gateway, $"/api/projects/{project.Id}?x={i}", user.Token)).Cache);
        }

        Assert.All(caches, cache => Assert.Equal("HIT", cache));
    }

    [Fact]
    public async Task MembershipLookupsAreChargedToNoViewerAndAViewerAtTheirLimitKeepsTheirStream()
    {
        using var auth = system.CreateAuthClient();
        using var gateway = system.CreateGatewayClient(Ip("127.0.11.1"));
        gateway.Timeout = Timeout.InfiniteTimeSpan;
        var owner = await SignedInAsync(auth);
        var exhausted = await SignedInAsync(auth);
        var watcher = await SignedInAsync(auth);
        var project = await gateway.CreateProjectAsync(owner.Token, "watched");
        foreach (var member in new[] { exhausted, watcher })
        {
            Assert.Equal(HttpStatusCode.NoContent,
                await gateway.SendAsync(HttpMethod.Post, $"/api/projects/{project.Id}/members", owner.Token, new { userId = member.User.Id }));
        }
        await using var exhaustedStream = await SseClient.ConnectAsync(gateway, exhausted.Token);
        await using var watcherStream = await SseClient.ConnectAsync(gateway, watcher.Token);
        while (true)
        {
            using var response = await gateway.GetAsync("/api/whoami", exhausted.Token);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                break;
            }
        }
        var watcherBefore = await RemainingAsync(gateway, watcher.Token);

        using var deploy = new HttpRequestMessage(HttpMethod.Post, $"/api/projects/{project.Id}/deployments")
        {
            Content = JsonContent.Create(new { branch = "main", environment = "staging" }),
        };
        deploy.Headers.Authorization = new AuthenticationHeaderValue("Bearer", owner.Token);
        using (var accepted = await gateway.SendAsync(deploy))
        {
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        }

        foreach (var stream in new[] { exhaustedStream, watcherStream })
        {
            var steps = await stream.ReadEventsAsync(4, TimeSpan.FromSeconds(60));
            Assert.Equal(["queued", "building", "deploying", "succeeded"],
                steps.Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("payload").GetProperty("status").GetString()));
        }
        Assert.Equal(watcherBefore - 1, await RemainingAsync(gateway, watcher.Token));
    }

    [Fact]
    public async Task TheEleventhStreamOfOneAccountIsRefusedAndClosingOneFreesASlot()
    {
        using var auth = system.CreateAuthClient();
        using var gateway = system.CreateGatewayClient(Ip("127.0.12.1"));
        gateway.Timeout = Timeout.InfiniteTimeSpan;
        var user = await SignedInAsync(auth);
        var streams = new List<SseClient>();
        try
        {
            for (var i = 0; i < 10; i++)
            {
                streams.Add(await SseClient.ConnectAsync(gateway, user.Token));
            }
            using (var eleventh = await SseClient.SendAsync(gateway, user.Token))
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, eleventh.StatusCode);
                Assert.Equal("application/problem+json", eleventh.Content.Headers.ContentType?.MediaType);
            }

            await streams[0].DisposeAsync();
            streams.RemoveAt(0);
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (true)
            {
                var response = await SseClient.SendAsync(gateway, user.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    response.Dispose();
                    break;
                }
                response.Dispose();
                Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), $"no slot freed 10 s after a stream closed ({(int)response.StatusCode})");
                await Task.Delay(100);
            }
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task TheWorkersAdminEndpointsAnswerOnlyTheAppHostsDashboardCommands()
    {
        using var worker = system.App.CreateHttpClient("worker");
        using (var queues = await worker.GetAsync("/worker/admin/queues"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, queues.StatusCode);
        }
        using (var retry = new HttpRequestMessage(HttpMethod.Post, "/worker/admin/dead/retry"))
        {
            retry.Headers.Add("X-Service-Key", "guessed");
            using var refused = await worker.SendAsync(retry);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        var commands = system.App.Services.GetRequiredService<ResourceCommandService>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var counts = await commands.ExecuteCommandAsync("worker", "queue-counts", timeout.Token);
        Assert.True(counts.Success, counts.Message);
        Assert.Contains("\"queue\":\"email\"", counts.Data?.Value);
    }

    [Fact]
    public async Task ProjectNamesWithControlCharactersAreRefusedAndChangeNothing()
    {
        using var auth = system.CreateAuthClient();
        using var gateway = system.CreateGatewayClient(Ip("127.0.13.1"));
        var owner = await SignedInAsync(auth);
        var project = await gateway.CreateProjectAsync(owner.Token, "plain");

        foreach (var name in new[] { "shop\r\nBcc: everyone@example.com", "tab\there", "bell\u0007" })
        {
            using var create = new HttpRequestMessage(HttpMethod.Post, "/api/projects") { Content = JsonContent.Create(new { name }) };
            create.Headers.Authorization = new AuthenticationHeaderValue("Bearer", owner.Token);
            using var created = await gateway.SendAsync(create);
            Assert.Equal(HttpStatusCode.BadRequest, created.StatusCode);
            Assert.Equal("application/problem+json", created.Content.Headers.ContentType?.MediaType);
            Assert.Equal(HttpStatusCode.BadRequest, await gateway.SendAsync(HttpMethod.Patch, $"/api/projects/{project.Id}", owner.Token, new { name }));
        }

        var listing = await gateway.GetAsync<ProjectSummary[]>("/api/projects", owner.Token);
        Assert.Equal([(project.Id, "plain")], listing.Select(p => (p.Id, p.Name)));
    }

    [Fact]
    public async Task AMemberIdIsStoredAsAuthWritesIt()
    {
        using var auth = system.CreateAuthClient();
        using var gateway = system.CreateGatewayClient(Ip("127.0.14.1"));
        var owner = await SignedInAsync(auth);
        var member = await SignedInAsync(auth);
        var project = await gateway.CreateProjectAsync(owner.Token, "canonical");

        foreach (var spelling in new[] { $"00{member.User.Id}", $"+{member.User.Id}", member.User.Id })
        {
            Assert.Equal(HttpStatusCode.NoContent,
                await gateway.SendAsync(HttpMethod.Post, $"/api/projects/{project.Id}/members", owner.Token, new { userId = spelling }));
        }

        var detail = await gateway.GetAsync<Project>($"/api/projects/{project.Id}", owner.Token);
        Assert.Equal([owner.User.Id, member.User.Id], detail.Members.Select(m => m.UserId));
        var listing = await gateway.GetAsync<ProjectSummary[]>("/api/projects", member.Token);
        Assert.Equal([project.Id], listing.Select(p => p.Id));
    }

    [Fact]
    public async Task AboutTellsReplicasApartWithoutNamingTheMachineOrProcess()
    {
        using var gateway = system.CreateGatewayClient(Ip("127.0.15.1"));
        foreach (var path in new[] { "/api/about", "/auth/about", "/notifications/about" })
        {
            var instance = (await gateway.GetFromJsonAsync<JsonElement>(path)).GetProperty("instance").GetString()!;
            Assert.DoesNotContain(Environment.MachineName, instance, StringComparison.OrdinalIgnoreCase);
            Assert.Matches("^[0-9a-f]{12}$", instance);
        }
    }

    private static async Task<(HttpStatusCode Status, string? Remaining)> AboutAsync(HttpClient client, string? forwardedFor)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/about");
        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }
        using var response = await client.SendAsync(request);
        return (response.StatusCode, response.Headers.TryGetValues("X-RateLimit-Remaining", out var values) ? values.Single() : null);
    }

    private static async Task<string> SessionCookieAsync(HttpClient client, string email, string? forwardedFor)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/auth/login") { Content = JsonContent.Create(new { email, password = Password }) };
        request.Headers.Add("X-Forwarded-Proto", "https");
        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("session=", StringComparison.Ordinal));
    }

    private static async Task<long> RemainingAsync(HttpClient gateway, string token)
    {
        using var response = await gateway.GetAsync("/api/whoami", token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return long.Parse(Header(response, "X-RateLimit-Remaining"));
    }

    private static string Json(object value) => JsonSerializer.Serialize(value);

    private static Task<HttpResponseMessage> PostJsonAsync(HttpClient client, string path, string json) =>
        client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.Single() : throw new Xunit.Sdk.XunitException($"no {name} header");
}
