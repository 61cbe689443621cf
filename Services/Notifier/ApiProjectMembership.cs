using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Platform.Notifications;

namespace Notifier;

/// <summary>
/// Asks the api service (<c>GET /api/projects/{id}</c>, found by service discovery, with the standard resilience
/// handler of ServiceDefaults) whether the viewer is listed among a project's members, with the viewer's own
/// session: the notifier never sees more than its user may. 403 and 404 mean "not a member"; anything else
/// unexpected throws, and the stream ends rather than guess.
/// </summary>
internal sealed class ApiProjectMembership(HttpClient api) : IProjectMembership
{
    public async Task<IReadOnlyList<string>> LoadPermissionsAsync(NotificationViewer viewer, string projectId, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/projects/{Uri.EscapeDataString(projectId)}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", viewer.Token);
        using var response = await api.SendAsync(request, cancellationToken);
        if (response.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.NotFound)
        {
            return [];
        }
        response.EnsureSuccessStatusCode();

        using var project = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken: cancellationToken);
        var listed = project.RootElement.TryGetProperty("members", out var members) && members.ValueKind == JsonValueKind.Array
            && members.EnumerateArray().Any(member => member.TryGetProperty("userId", out var id) && SameId(id, viewer.UserId));
        return listed ? [NotificationAccess.MemberPermission] : [];
    }

    // User ids are numbers in auth; compare as text whichever way the api writes them.
    private static bool SameId(JsonElement id, string userId) => id.ValueKind switch
    {
        JsonValueKind.String => id.GetString() == userId,
        JsonValueKind.Number => id.GetRawText() == userId,
        _ => false,
    };
}
