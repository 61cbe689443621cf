using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using static AppHost.Tests.GatewayClient;

namespace AppHost.Tests;

/// <summary>The api's reads served through the Redis output cache, driven through the gateway as a client would.</summary>
[Collection(SystemCollection.Name)]
public sealed class OutputCacheTests(DistributedAppFixture system)
{
    [Fact]
    public async Task ASecondReadIsAHitWithTheSameBytesAndACreatedProjectEvictsOnlyItsOwnersListing()
    {
        using var gateway = system.CreateGatewayClient();
        var ada = await SignedInAsync(gateway);
        var bob = await SignedInAsync(gateway);
        var first = await gateway.CreateProjectAsync(ada.Token, "first");
        var bobsBefore = await ReadAsync(gateway, "/api/projects", bob.Token);

        var miss = await ReadAsync(gateway, "/api/projects", ada.Token);
        var hit = await ReadAsync(gateway, "/api/projects", ada.Token);

        Assert.Equal(("MISS", "HIT"), (miss.Cache, hit.Cache));
        Assert.Equal(miss.Body, hit.Body);
        Assert.Equal(miss.ETag, hit.ETag);
        Assert.Equal([first.Id], Listing(miss).Select(p => p.Id));

        var second = await gateway.CreateProjectAsync(ada.Token, "second");
        var afterCreate = await ReadAsync(gateway, "/api/projects", ada.Token);
        Assert.Equal("MISS", afterCreate.Cache);
        Assert.Equal([first.Id, second.Id], Listing(afterCreate).Select(p => p.Id));
        Assert.All(Listing(afterCreate), p => Assert.Equal(("owner", ada.User.Id), (p.Role, p.OwnerId)));

        // Bob's listing is his own entry, untouched by Ada's writes, and never holds her projects.
        var bobsAfter = await ReadAsync(gateway, "/api/projects", bob.Token);
        Assert.Equal(("MISS", "HIT"), (bobsBefore.Cache, bobsAfter.Cache));
        Assert.Equal("[]", bobsAfter.Body);
    }

    [Fact]
    public async Task AMemberAddedToAProjectSeesItOnTheNextRequestAndEveryCallerSeesTheNewMemberList()
    {
        using var gateway = system.CreateGatewayClient();
        var owner = await SignedInAsync(gateway);
        var joiner = await SignedInAsync(gateway);
        var project = await gateway.CreateProjectAsync(owner.Token, "shared");
        await ReadAsync(gateway, "/api/projects", joiner.Token);
        var ownersView = await ReadAsync(gateway, $"/api/projects/{project.Id}", owner.Token);
        Assert.Equal(HttpStatusCode.OK, ownersView.Status);
        Assert.Equal("HIT", (await ReadAsync(gateway, $"/api/projects/{project.Id}", owner.Token)).Cache);
        Assert.Equal(HttpStatusCode.Forbidden, (await ReadAsync(gateway, $"/api/projects/{project.Id}", joiner.Token)).Status);

        Assert.Equal(HttpStatusCode.NoContent,
            await gateway.SendAsync(HttpMethod.Post, $"/api/projects/{project.Id}/members", owner.Token, new { userId = joiner.User.Id }));

        var joinersListing = await ReadAsync(gateway, "/api/projects", joiner.Token);
        Assert.Equal("MISS", joinersListing.Cache);
        var listed = Assert.Single(Listing(joinersListing));
        Assert.Equal((project.Id, "member"), (listed.Id, listed.Role));
        foreach (var caller in new[] { owner, joiner })
        {
            var detail = await ReadAsync(gateway, $"/api/projects/{project.Id}", caller.Token);
            Assert.Equal((HttpStatusCode.OK, "MISS"), (detail.Status, detail.Cache));
            var view = Json<Project>(detail);
            Assert.Equal([(owner.User.Id, "owner"), (joiner.User.Id, "member")], view.Members.Select(m => (m.UserId, m.Role)));
        }
    }

    [Fact]
    public async Task RenamingAProjectEvictsItsDetailAndEveryMembersListing()
    {
        using var gateway = system.CreateGatewayClient();
        var owner = await SignedInAsync(gateway);
        var member = await SignedInAsync(gateway);
        var project = await gateway.CreateProjectAsync(owner.Token, "old name");
        Assert.Equal(HttpStatusCode.NoContent,
            await gateway.SendAsync(HttpMethod.Post, $"/api/projects/{project.Id}/members", owner.Token, new { userId = member.User.Id }));
        foreach (var path in new[] { "/api/projects", $"/api/projects/{project.Id}" })
        {
            await ReadAsync(gateway, path, owner.Token);
            await ReadAsync(gateway, path, member.Token);
            Assert.Equal("HIT", (await ReadAsync(gateway, path, member.Token)).Cache);
        }

        Assert.Equal(HttpStatusCode.Forbidden, await gateway.SendAsync(HttpMethod.Patch, $"/api/projects/{project.Id}", member.Token, new { name = "hijacked" }));
        Assert.Equal(HttpStatusCode.OK, await gateway.SendAsync(HttpMethod.Patch, $"/api/projects/{project.Id}", owner.Token, new { name = "new name" }));

        foreach (var caller in new[] { owner, member })
        {
            var listing = await ReadAsync(gateway, "/api/projects", caller.Token);
            Assert.Equal(("MISS", "new name"), (listing.Cache, Assert.Single(Listing(listing)).Name));
            var detail = await ReadAsync(gateway, $"/api/projects/{project.Id}", caller.Token);
            Assert.Equal(("MISS", "new name"), (detail.Cache, Json<Project>(detail).Name));
        }
    }

    [Fact]
    public async Task IfNoneMatchWithTheCurrentETagGets304WithNoBodyFromTheCache()
    {
        using var gateway = system.CreateGatewayClient();
        var user = await SignedInAsync(gateway);
        var project = await gateway.CreateProjectAsync(user.Token, "etag");
        var fresh = await ReadAsync(gateway, $"/api/projects/{project.Id}", user.Token);
        Assert.NotNull(fresh.ETag);

        var notModified = await ReadAsync(gateway, $"/api/projects/{project.Id}", user.Token, ifNoneMatch: fresh.ETag);
        var otherTag = await ReadAsync(gateway, $"/api/projects/{project.Id}", user.Token, ifNoneMatch: "\"not-the-tag\"");

        Assert.Equal((HttpStatusCode.NotModified, "HIT", fresh.ETag, ""), (notModified.Status, notModified.Cache, notModified.ETag, notModified.Body));
        Assert.Equal((HttpStatusCode.OK, "HIT", fresh.Body), (otherTag.Status, otherTag.Cache, otherTag.Body));
    }

    [Fact]
    public async Task NotFoundAndForbiddenAreNeverCached()
    {
        using var gateway = system.CreateGatewayClient();
        var owner = await SignedInAsync(gateway);
        var stranger = await SignedInAsync(gateway);
        var project = await gateway.CreateProjectAsync(owner.Token, "private");

        foreach (var (path, status) in new[] { ($"/api/projects/{int.MaxValue}", HttpStatusCode.NotFound), ($"/api/projects/{project.Id}", HttpStatusCode.Forbidden), ("/api/users/999999999", HttpStatusCode.NotFound) })
        {
            var answers = new[] { await ReadAsync(gateway, path, stranger.Token), await ReadAsync(gateway, path, stranger.Token) };
            Assert.All(answers, a => Assert.Equal((status, null, "application/problem+json"), (a.Status, a.Cache, a.MediaType)));
        }
    }

    [Fact]
    public async Task ARevokedSessionGets401NotTheCachedAnswer()
    {
        using var gateway = system.CreateGatewayClient();
        var user = await SignedInAsync(gateway);
        await ReadAsync(gateway, "/api/projects", user.Token);
        Assert.Equal("HIT", (await ReadAsync(gateway, "/api/projects", user.Token)).Cache);

        Assert.Equal(HttpStatusCode.NoContent, await gateway.SendAsync(HttpMethod.Delete, "/auth/sessions/current", user.Token));

        var afterRevoke = await ReadAsync(gateway, "/api/projects", user.Token);
        Assert.Equal((HttpStatusCode.Unauthorized, null), (afterRevoke.Status, afterRevoke.Cache));
    }

    [Fact]
    public async Task AProfileComesFromAuthAndOneEntryServesEveryCaller()
    {
        using var gateway = system.CreateGatewayClient();
        var subject = await SignedInAsync(gateway);
        var first = await SignedInAsync(gateway);
        var second = await SignedInAsync(gateway);

        var miss = await ReadAsync(gateway, $"/api/users/{subject.User.Id}", first.Token);
        var hit = await ReadAsync(gateway, $"/api/users/{subject.User.Id}", second.Token);

        Assert.Equal((HttpStatusCode.OK, "MISS"), (miss.Status, miss.Cache));
        Assert.Equal((HttpStatusCode.OK, "HIT", miss.Body), (hit.Status, hit.Cache, hit.Body));
        var profile = Json<Profile>(miss);
        Assert.Equal((subject.User.Id, subject.User.Name), (profile.Id, profile.Name));
        Assert.DoesNotContain(subject.User.Email, miss.Body);
        using var anonymous = await gateway.GetAsync($"/api/users/{subject.User.Id}");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    [Fact]
    public async Task BadWritesAreRefusedWithProblemDetailsAndChangeNothing()
    {
        using var gateway = system.CreateGatewayClient();
        var user = await SignedInAsync(gateway);
        var project = await gateway.CreateProjectAsync(user.Token, "kept");

        Assert.Equal(HttpStatusCode.BadRequest, await gateway.SendAsync(HttpMethod.Post, "/api/projects", user.Token, new { name = "" }));
        Assert.Equal(HttpStatusCode.BadRequest, await gateway.SendAsync(HttpMethod.Post, "/api/projects", user.Token, new { name = new string('x', 101) }));
        Assert.Equal(HttpStatusCode.BadRequest, await gateway.SendAsync(HttpMethod.Post, $"/api/projects/{project.Id}/members", user.Token, new { }));
        Assert.Equal(HttpStatusCode.NotFound, await gateway.SendAsync(HttpMethod.Post, $"/api/projects/{project.Id}/members", user.Token, new { userId = "999999999" }));
        Assert.Equal(HttpStatusCode.NotFound, await gateway.SendAsync(HttpMethod.Post, "/api/projects/nope/members", user.Token, new { userId = user.User.Id }));
        Assert.Equal(HttpStatusCode.Unauthorized, (await gateway.PostAsJsonAsync("/api/projects", new { name = "anonymous" })).StatusCode);

        var listing = await ReadAsync(gateway, "/api/projects", user.Token);
        Assert.Equal(["kept"], Listing(listing).Select(p => p.Name));
        var detail = Json<Project>(await ReadAsync(gateway, $"/api/projects/{project.Id}", user.Token));
        Assert.Equal(user.User.Id, Assert.Single(detail.Members).UserId);
    }

    internal sealed record Read(HttpStatusCode Status, string? Cache, string? ETag, string Body, string? MediaType);

    internal static async Task<Read> ReadAsync(HttpClient gateway, string path, string token, string? ifNoneMatch = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (ifNoneMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
        }
        using var response = await gateway.SendAsync(request);
        return new Read(response.StatusCode,
            response.Headers.TryGetValues("X-Cache", out var cache) ? cache.Single() : null,
            response.Headers.ETag?.ToString(),
            await response.Content.ReadAsStringAsync(),
            response.Content.Headers.ContentType?.MediaType);
    }

    private static T Json<T>(Read read) => System.Text.Json.JsonSerializer.Deserialize<T>(read.Body, System.Text.Json.JsonSerializerOptions.Web)!;
    private static ProjectSummary[] Listing(Read read) => Json<ProjectSummary[]>(read);
}
