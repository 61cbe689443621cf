using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Options;
using Platform.Sessions;

namespace Api.Users;

/// <summary>A user's public profile, as auth serves it.</summary>
public sealed record UserProfile(string Id, string Name, DateTimeOffset CreatedAt);

/// <summary>
/// The auth service's <c>GET /auth/users/{id}</c>, reached by service discovery (<c>http://auth</c>) through the
/// standard resilience handler (retries, timeouts, circuit breaker) that ServiceDefaults puts on every HttpClient.
/// The caller's own session token is forwarded: auth serves profiles to signed-in users only.
/// </summary>
public sealed class AuthUsersClient(HttpClient http, IOptions<SessionStoreOptions> sessions)
{
    /// <summary>The profile, or null if auth has no such user. Throws if auth cannot be reached or refuses.</summary>
    public async Task<UserProfile?> GetProfileAsync(string userId, HttpContext caller, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/auth/users/{Uri.EscapeDataString(userId)}");
        if (CallerToken(caller) is { } token)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        using var response = await http.SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<UserProfile>(cancellationToken)
            ?? throw new HttpRequestException("auth answered an empty profile.");
    }

    private string? CallerToken(HttpContext caller)
    {
        var header = caller.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return header["Bearer ".Length..].Trim();
        }
        return caller.Request.Cookies.TryGetValue(sessions.Value.CookieName, out var cookie) ? cookie : null;
    }

    /// <summary>Auth could not be reached in time, even after the resilience handler's retries.</summary>
    public static bool IsUnavailable(Exception e) => e is HttpRequestException or Polly.ExecutionRejectedException;
}
