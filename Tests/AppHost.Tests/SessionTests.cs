using System.Net;
using System.Net.Http.Json;
using System.Text;
using static AppHost.Tests.GatewayClient;

namespace AppHost.Tests;

/// <summary>Sign-in and sessions, driven through the gateway as a browser or curl would.</summary>
[Collection(SystemCollection.Name)]
public sealed class SessionTests(DistributedAppFixture system)
{
    private static readonly string[] EveryService = ["/auth/me", "/api/whoami", "/notifications/whoami"];

    [Fact]
    public async Task ASignedInUserIsKnownToEveryServiceByBearerTokenAndByCookie()
    {
        using var gateway = system.CreateGatewayClient();
        var email = NewEmail();
        var registered = await gateway.RegisterAsync(email);

        using var response = await gateway.PostAsJsonAsync("/auth/login", new { email, password = Password });
        var login = (await response.Content.ReadFromJsonAsync<Login>())!;
        var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith($"session={login.Token};", cookie);
        Assert.Contains("httponly", cookie.ToLowerInvariant());
        Assert.Contains("samesite=strict", cookie.ToLowerInvariant());

        var me = await gateway.GetAsync<Me>("/auth/me", login.Token);
        Assert.Equal(registered.Id, me.User.Id);
        Assert.Equal("user", me.User.Tier);
        Assert.NotEqual(login.Token, me.Session.Id);
        foreach (var path in new[] { "/api/whoami", "/notifications/whoami" })
        {
            var seen = await gateway.GetAsync<WhoAmI>(path, login.Token);
            Assert.Equal((registered.Id, me.Session.Id), (seen.UserId, seen.SessionId));
        }

        using var byCookie = new HttpRequestMessage(HttpMethod.Get, "/auth/me");
        byCookie.Headers.Add("Cookie", $"session={login.Token}");
        using var cookieResponse = await gateway.SendAsync(byCookie);
        Assert.Equal(registered.Id, (await cookieResponse.Content.ReadFromJsonAsync<Me>())!.User.Id);
    }

    [Fact]
    public async Task RevokeAllRefusesEveryOneOfTwoHundredSessionsAtEveryServiceOnTheNextRequest()
    {
        using var gateway = system.CreateGatewayClient();
        var email = NewEmail();
        await gateway.RegisterAsync(email);
        var bystanderEmail = NewEmail();
        await gateway.RegisterAsync(bystanderEmail);
        var bystander = await gateway.LoginAsync(bystanderEmail);

        var tokens = new List<string>();
        foreach (var batch in Enumerable.Range(0, 200).Chunk(20))
        {
            tokens.AddRange((await Task.WhenAll(batch.Select(_ => gateway.LoginAsync(email)))).Select(l => l.Token));
        }
        Assert.Equal(200, (await gateway.GetAsync<SessionItem[]>("/auth/sessions", tokens[0])).Length);

        Assert.Equal(HttpStatusCode.NoContent, await gateway.SendAsync(HttpMethod.Delete, "/auth/sessions", tokens[^1]));

        foreach (var path in EveryService)
        {
            var statuses = await Task.WhenAll(tokens.Select(async token =>
            {
                using var response = await gateway.GetAsync(path, token);
                return response.StatusCode;
            }));
            Assert.All(statuses, status => Assert.Equal(HttpStatusCode.Unauthorized, status));
            using var unaffected = await gateway.GetAsync(path, bystander.Token);
            Assert.Equal(HttpStatusCode.OK, unaffected.StatusCode);
        }
    }

    [Fact]
    public async Task ATierChangeByAnAdminShowsOnEveryLiveSessionOfThatUserAtOnce()
    {
        using var gateway = system.CreateGatewayClient();
        var email = NewEmail();
        var user = await gateway.RegisterAsync(email);
        var sessions = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => gateway.LoginAsync(email)));
        var admin = await gateway.LoginAsync(system.AdminEmail, system.AdminPassword);

        Assert.Equal(HttpStatusCode.Forbidden,
            await gateway.SendAsync(HttpMethod.Put, $"/auth/users/{user.Id}/tier", sessions[0].Token, new { tier = "admin" }));
        Assert.Equal(HttpStatusCode.OK,
            await gateway.SendAsync(HttpMethod.Put, $"/auth/users/{user.Id}/tier", admin.Token, new { tier = "premium" }));

        foreach (var session in sessions)
        {
            Assert.Equal("premium", (await gateway.GetAsync<Me>("/auth/me", session.Token)).User.Tier);
            Assert.Equal("premium", (await gateway.GetAsync<WhoAmI>("/api/whoami", session.Token)).Tier);
        }
        Assert.Equal(HttpStatusCode.BadRequest,
            await gateway.SendAsync(HttpMethod.Put, $"/auth/users/{user.Id}/tier", admin.Token, new { tier = "anonymous" }));
        Assert.Equal("premium", (await gateway.GetAsync<Me>("/auth/me", sessions[0].Token)).User.Tier);
    }

    [Fact]
    public async Task HundredConcurrentSignInsOfOneUserAllSucceedAndAreExactlyTheSessionsListed()
    {
        using var gateway = system.CreateGatewayClient();
        var email = NewEmail();
        await gateway.RegisterAsync(email);

        var logins = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => gateway.LoginAsync(email)));

        var mine = await Task.WhenAll(logins.Select(l => gateway.GetAsync<Me>("/auth/me", l.Token)));
        var listed = await gateway.GetAsync<SessionItem[]>("/auth/sessions", logins[0].Token);
        Assert.Equal(mine.Select(m => m.Session.Id).Order(), listed.Select(s => s.Id).Order());
        Assert.Equal(mine[0].Session.Id, Assert.Single(listed, s => s.Current).Id);
    }

    [Fact]
    public async Task SigningOutEndsOnlyThatSessionAndClearsTheCookie()
    {
        using var gateway = system.CreateGatewayClient();
        var email = NewEmail();
        await gateway.RegisterAsync(email);
        var phone = await gateway.LoginAsync(email);
        var laptop = await gateway.LoginAsync(email);

        using var request = new HttpRequestMessage(HttpMethod.Delete, "/auth/sessions/current");
        request.Headers.Add("Cookie", $"session={phone.Token}");
        using var response = await gateway.SendAsync(request);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Contains(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith("session=;", StringComparison.Ordinal));
        using var refused = await gateway.GetAsync("/auth/me", phone.Token);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        var left = await gateway.GetAsync<SessionItem[]>("/auth/sessions", laptop.Token);
        Assert.Equal(HttpStatusCode.NotFound, await gateway.SendAsync(HttpMethod.Delete, $"/auth/sessions/{Guid.NewGuid():N}", laptop.Token));
        Assert.True(Assert.Single(left).Current);
    }

    [Fact]
    public async Task AWrongPasswordAndAnUnknownEmailGetTheSameAnswer()
    {
        using var gateway = system.CreateGatewayClient();
        var email = NewEmail();
        await gateway.RegisterAsync(email);

        using var wrongPassword = await gateway.PostAsJsonAsync("/auth/login", new { email, password = "wrong password here" });
        using var unknownEmail = await gateway.PostAsJsonAsync("/auth/login", new { email = NewEmail(), password = Password });

        Assert.Equal(HttpStatusCode.Unauthorized, wrongPassword.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unknownEmail.StatusCode);
        var (wrong, unknown) = (await ProblemAsync(wrongPassword), await ProblemAsync(unknownEmail));
        Assert.Equal(wrong, unknown);
        Assert.Equal("application/problem+json", unknown.MediaType);
    }

    [Theory]
    [InlineData("malformed JSON", "{\"email\": ")]
    [InlineData("missing password", "{\"email\": \"EMAIL\", \"name\": \"Ada\"}")]
    [InlineData("missing email", "{\"password\": \"correct horse battery\", \"name\": \"Ada\"}")]
    [InlineData("password under 12 characters", "{\"email\": \"EMAIL\", \"password\": \"eleven char\", \"name\": \"Ada\"}")]
    [InlineData("not an email", "{\"email\": \"not-an-email\", \"password\": \"correct horse battery\", \"name\": \"Ada\"}")]
    [InlineData("over-long name", "{\"email\": \"EMAIL\", \"password\": \"correct horse battery\", \"name\": \"LONG\"}")]
    [InlineData("over-long body", "{\"email\": \"EMAIL\", \"password\": \"correct horse battery\", \"name\": \"Ada\", \"padding\": \"HUGE\"}")]
    public async Task BadRegistrationsGet400ProblemJsonAndCreateNothing(string why, string template)
    {
        using var gateway = system.CreateGatewayClient();
        var email = NewEmail();
        var body = template.Replace("EMAIL", email).Replace("LONG", new string('n', 101)).Replace("HUGE", new string('x', 20_000));

        using var response = await gateway.PostAsync("/auth/register", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{why}: {(int)response.StatusCode}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        // Nothing was created: the address is still free.
        await gateway.RegisterAsync(email);
    }

    [Fact]
    public async Task ASecondRegistrationOfAnEmailIsAConflictWhateverItsCase()
    {
        using var gateway = system.CreateGatewayClient();
        var email = NewEmail();
        await gateway.RegisterAsync(email);

        using var duplicate = await gateway.PostAsJsonAsync("/auth/register", new { email = email.ToUpperInvariant(), password = Password, name = "Eve" });

        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);
        Assert.Equal("application/problem+json", duplicate.Content.Headers.ContentType?.MediaType);
    }
}
