using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace AppHost.Tests;

/// <summary>What a user of the HTTP API does, in a few calls. Every call goes through the gateway.</summary>
internal static class GatewayClient
{
    public sealed record User(string Id, string Email, string Name, string Tier, string[] Roles);
    public sealed record Login(string Token, DateTimeOffset ExpiresAt, User User);
    public sealed record SessionView(string Id, DateTimeOffset CreatedAt, DateTimeOffset LastActivity, DateTimeOffset ExpiresAt);
    public sealed record Me(User User, SessionView Session);
    public sealed record SessionItem(string Id, DateTimeOffset CreatedAt, DateTimeOffset LastActivity, string UserAgent, bool Current);
    public sealed record WhoAmI(string Service, string UserId, string Email, string Tier, string[] Roles, string SessionId);

    public sealed record Member(string UserId, string Role);
    public sealed record Project(string Id, string Name, string OwnerId, DateTimeOffset CreatedAt, Member[] Members);
    public sealed record ProjectSummary(string Id, string Name, string OwnerId, DateTimeOffset CreatedAt, string Role);
    public sealed record Profile(string Id, string Name, DateTimeOffset CreatedAt);

    public const string Password = "correct horse battery staple";

    public static string NewEmail() => $"user-{Guid.NewGuid():N}@example.com";

    public static async Task<User> RegisterAsync(this HttpClient gateway, string email, string password = Password)
    {
        using var response = await gateway.PostAsJsonAsync("/auth/register", new { email, password, name = "Test User" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<User>())!;
    }

    public static async Task<Login> LoginAsync(this HttpClient gateway, string email, string password = Password)
    {
        using var response = await gateway.PostAsJsonAsync("/auth/login", new { email, password });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<Login>())!;
    }

    /// <summary>A new user, registered and signed in.</summary>
    public static async Task<Login> SignedInAsync(HttpClient gateway)
    {
        var email = NewEmail();
        await gateway.RegisterAsync(email);
        return await gateway.LoginAsync(email);
    }

    public static async Task<Project> CreateProjectAsync(this HttpClient gateway, string token, string name)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/projects") { Content = JsonContent.Create(new { name }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await gateway.SendAsync(request);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"POST /api/projects: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        var project = (await response.Content.ReadFromJsonAsync<Project>())!;
        Assert.Equal($"/api/projects/{project.Id}", response.Headers.Location?.OriginalString);
        return project;
    }

    public static Task<HttpResponseMessage> GetAsync(this HttpClient gateway, string path, string token)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return gateway.SendAsync(request);
    }

    public static async Task<T> GetAsync<T>(this HttpClient gateway, string path, string token)
    {
        using var response = await gateway.GetAsync(path, token);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<T>())!;
    }

    public static async Task<HttpStatusCode> SendAsync(this HttpClient gateway, HttpMethod method, string path, string token, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }
        using var response = await gateway.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>The parts of a problem+json body a client would show or branch on (not the per-request traceId).</summary>
    public static async Task<(int Status, string Title, string? Detail, string MediaType)> ProblemAsync(HttpResponseMessage response)
    {
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (json.GetProperty("status").GetInt32(), json.GetProperty("title").GetString()!,
            json.TryGetProperty("detail", out var detail) ? detail.GetString() : null,
            response.Content.Headers.ContentType?.MediaType ?? "");
    }
}
