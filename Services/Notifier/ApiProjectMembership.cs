using System.Net;
using Microsoft.Extensions.Options;
using Platform.Notifications;
using Platform.Sessions;

namespace Notifier;

/// <summary>The api's key for this service (configuration <c>Api:ServiceKey</c>; the AppHost sets it from a secret parameter).</summary>
internal sealed class ApiOptions
{
    public string ServiceKey { get; set; } = "";
}

/// <summary>
/// Asks the api service who belongs to a project (<c>GET /api/internal/projects/{id}/members</c>, found by service
/// discovery, with the standard resilience handler of ServiceDefaults) as this service, with its service key: never
/// with a viewer's session, so no viewer's rate limit pays for it, and one answer serves every viewer. 404 means no
/// such project; anything else unexpected throws, and the stream ends rather than guess.
/// </summary>
internal sealed class ApiProjectMembership(HttpClient api, IOptions<ApiOptions> options) : IProjectMembership
{
    private sealed record MemberIds(string ProjectId, string[] Members);

    public async Task<IReadOnlySet<string>?> LoadMembersAsync(string projectId, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/internal/projects/{Uri.EscapeDataString(projectId)}/members");
        request.Headers.Add(ServiceKeyAuthentication.HeaderName, options.Value.ServiceKey);
        using var response = await api.SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        response.EnsureSuccessStatusCode();
        var ids = await response.Content.ReadFromJsonAsync<MemberIds>(cancellationToken)
            ?? throw new HttpRequestException("api answered an empty member list.");
        return ids.Members.ToHashSet(StringComparer.Ordinal);
    }
}
