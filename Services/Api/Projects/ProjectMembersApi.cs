using Microsoft.AspNetCore.Http.HttpResults;
using Platform.Sessions;

namespace Api.Projects;

/// <summary>A project's member ids, for the notifier's own service identity (never a user's): who may see its events.</summary>
public sealed record ProjectMemberIds(string ProjectId, IReadOnlyList<string> Members);

/// <summary>
/// Service-to-service reads of projects. The caller authenticates with its service key (ServiceKeys:notifier), so
/// the gateway's limiter charges nobody, and one answer serves every viewer of the project (the notifier caches it
/// per project; <see cref="ProjectsApi"/> invalidates it when a membership changes).
/// </summary>
public static class ProjectMembersApi
{
    public const string NotifierService = "notifier";

    public static IEndpointRouteBuilder MapProjectMembersApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/api/internal/projects/{id}/members", Members).RequireServiceKey(NotifierService);
        return endpoints;
    }

    private static async Task<Results<Ok<ProjectMemberIds>, ProblemHttpResult>> Members(string id, HttpContext context, ProjectsDb db) =>
        await ProjectsApi.FindAsync(db, id, context.RequestAborted) is { } project
            ? TypedResults.Ok(new ProjectMemberIds(ProjectsApi.Id(project.Id), project.Members.Select(m => m.UserId).ToList()))
            : ProjectsApi.NotFound(id);
}
