using System.Security.Claims;
using Api.Caching;
using Api.Outbox;
using Api.Users;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.EntityFrameworkCore;
using Platform.Caching;
using Platform.Hosting;
using Platform.Sessions;

namespace Api.Projects;

/// <summary>
/// Projects (DESIGN.md section 5, api). Reads are output-cached in Redis per caller for 10 minutes; each write
/// commits to SQLite first and then evicts exactly the tags it changed (see <see cref="ApiCaching"/>).
/// </summary>
public static class ProjectsApi
{
    public const int MaxNameLength = 100;

    public static IEndpointRouteBuilder MapProjectsApi(this IEndpointRouteBuilder endpoints)
    {
        var projects = endpoints.MapGroup("/api/projects").RequireAuthorization();
        projects.MapGet("/", List).CacheOutput(ApiCaching.ProjectsPolicy);
        projects.MapGet("/{id}", Get).CacheOutput(ApiCaching.ProjectsPolicy);
        projects.MapPost("/", Create);
        projects.MapPatch("/{id}", Rename);
        projects.MapPost("/{id}/members", AddMember);
        return endpoints;
    }

    /// <summary>The caller's projects (those they belong to; admins too see only their own here).</summary>
    private static async Task<ETaggedJson<List<ProjectSummary>>> List(HttpContext context, ClaimsPrincipal user, ProjectsDb db)
    {
        var userId = UserId(user);
        var rows = await db.ProjectMembers.AsNoTracking()
            .Where(m => m.UserId == userId)
            .OrderBy(m => m.ProjectId)
            .Select(m => new { m.Project!.Id, m.Project.Name, m.Project.OwnerId, m.Project.CreatedAt, m.Role })
            .ToListAsync(CachedEndpoint.Uncancelled);
        OutputCacheTags.Add(context, [ApiCaching.ListingTag(userId), .. rows.Select(r => ApiCaching.ProjectTag(r.Id))]);
        return ETaggedJson.Ok(rows.Select(r => new ProjectSummary(Id(r.Id), r.Name, r.OwnerId, r.CreatedAt, r.Role)).ToList());
    }

    private static async Task<Results<ETaggedJson<ProjectView>, ProblemHttpResult>> Get(string id, HttpContext context, ClaimsPrincipal user, ProjectsDb db)
    {
        if (await FindAsync(db, id, CachedEndpoint.Uncancelled) is not { } project)
        {
            return NotFound(id);
        }
        if (!IsAdmin(user) && !IsMember(user, project))
        {
            return Forbidden("You are not a member of this project.");
        }
        OutputCacheTags.Add(context, ApiCaching.ProjectTag(project.Id));
        return ETaggedJson.Ok(View(project));
    }

    private static async Task<Results<Created<ProjectView>, ProblemHttpResult, ValidationProblem>> Create(
        HttpRequest request, ClaimsPrincipal user, ProjectsDb db, IOutputCacheStore cache, OutboxDispatcher outbox, ILoggerFactory loggers)
    {
        var (body, problem) = await JsonBody.ReadAsync<CreateProjectRequest>(request);
        if (problem is not null)
        {
            return problem;
        }
        if (ValidName(body!.Name) is not { } name)
        {
            return InvalidName();
        }
        var project = await ProjectCreation.CreateAsync(db, UserId(user), user.FindFirstValue(ClaimTypes.Email), name);
        await cache.EvictByTagAsync(ApiCaching.ListingTag(project.OwnerId), CancellationToken.None);
        try
        {
            // Usually the jobs are queued and the event published before the answer; if not, the outbox keeps them.
            await outbox.DispatchPendingAsync(CancellationToken.None);
        }
        catch (Exception e)
        {
            // The project is committed: failing the request now would invite a duplicate create.
            loggers.CreateLogger(typeof(ProjectsApi)).LogWarning(e, "Project {ProjectId} was created; its jobs and event wait in the outbox", project.Id);
        }
        return TypedResults.Created($"/api/projects/{Id(project.Id)}", View(project));
    }

    private static async Task<Results<Ok<ProjectView>, ProblemHttpResult, ValidationProblem>> Rename(
        string id, HttpRequest request, ClaimsPrincipal user, ProjectsDb db, IOutputCacheStore cache)
    {
        var (body, problem) = await JsonBody.ReadAsync<RenameProjectRequest>(request);
        if (problem is not null)
        {
            return problem;
        }
        if (ValidName(body!.Name) is not { } name)
        {
            return InvalidName();
        }
        if (await FindAsync(db, id, request.HttpContext.RequestAborted, tracked: true) is not { } project)
        {
            return NotFound(id);
        }
        if (!MayManage(user, project))
        {
            return Forbidden("Only the project's owner or an admin may rename it.");
        }
        project.Name = name;
        await db.SaveChangesAsync(CancellationToken.None);
        // Its detail and every member's listing (each listing entry is tagged with the projects in it).
        await cache.EvictByTagAsync(ApiCaching.ProjectTag(project.Id), CancellationToken.None);
        return TypedResults.Ok(View(project));
    }

    private static async Task<Results<NoContent, ProblemHttpResult, ValidationProblem>> AddMember(
        string id, HttpContext context, ClaimsPrincipal user, ProjectsDb db, IOutputCacheStore cache,
        ProjectMemberCache members, AuthUsersClient auth)
    {
        var (body, problem) = await JsonBody.ReadAsync<AddMemberRequest>(context.Request);
        if (problem is not null)
        {
            return problem;
        }
        var requestedId = body!.UserId?.Trim();
        if (string.IsNullOrEmpty(requestedId) || requestedId.Length > 64)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["userId"] = ["A user id is required."] });
        }
        if (await FindAsync(db, id, context.RequestAborted) is not { } project)
        {
            return NotFound(id);
        }
        if (!MayManage(user, project))
        {
            return Forbidden("Only the project's owner or an admin may add members.");
        }
        if (project.Members.Any(m => m.UserId == requestedId))
        {
            return TypedResults.NoContent();
        }
        string memberId;
        try
        {
            if (await auth.GetProfileAsync(requestedId, context, context.RequestAborted) is not { } profile)
            {
                return TypedResults.Problem(statusCode: 404, title: "No such user", detail: $"There is no user '{requestedId}'.");
            }
            // The id as auth writes it: "007" and "+7" find user 7, and must be stored as the "7" every session carries.
            memberId = profile.Id;
        }
        catch (Exception e) when (AuthUsersClient.IsUnavailable(e) && !context.RequestAborted.IsCancellationRequested)
        {
            return TypedResults.Problem(statusCode: 503, title: "auth is unavailable", detail: "The user could not be looked up. Retry shortly.");
        }

        if (project.Members.Any(m => m.UserId == memberId))
        {
            return TypedResults.NoContent();
        }
        db.ProjectMembers.Add(new ProjectMember { ProjectId = project.Id, UserId = memberId, Role = ProjectRoles.Member, AddedAt = DateTimeOffset.UtcNow });
        try
        {
            await db.SaveChangesAsync(CancellationToken.None);
        }
        catch (DbUpdateException)
        {
            // The key decides a race between two adds of one member: the loser finds the outcome it asked for.
            db.ChangeTracker.Clear();
            if (!await db.ProjectMembers.AnyAsync(m => m.ProjectId == project.Id && m.UserId == memberId))
            {
                throw;
            }
        }
        // The project's detail (its member list) for every caller, the new member's listing, the notifier's member list.
        await cache.EvictByTagAsync(ApiCaching.ProjectTag(project.Id), CancellationToken.None);
        await cache.EvictByTagAsync(ApiCaching.ListingTag(memberId), CancellationToken.None);
        await members.InvalidateAsync(Id(project.Id));
        return TypedResults.NoContent();
    }

    internal static async Task<Project?> FindAsync(ProjectsDb db, string id, CancellationToken cancellationToken, bool tracked = false)
    {
        if (!int.TryParse(id, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var projectId))
        {
            return null;
        }
        var projects = tracked ? db.Projects : db.Projects.AsNoTracking();
        return await projects.Include(p => p.Members).SingleOrDefaultAsync(p => p.Id == projectId, cancellationToken);
    }

    // No control characters: a name travels into e-mail subjects and logs, where CR/LF would start a new line.
    private static string? ValidName(string? name) =>
        name?.Trim() is { Length: > 0 and <= MaxNameLength } trimmed && !trimmed.Any(char.IsControl) ? trimmed : null;

    private static ValidationProblem InvalidName() =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]>
        {
            ["name"] = [$"A name of 1 to {MaxNameLength} characters, without control characters (such as line breaks), is required."],
        });

    internal static ProblemHttpResult NotFound(string id) =>
        TypedResults.Problem(statusCode: 404, title: "No such project", detail: $"There is no project '{id}'.");

    internal static ProblemHttpResult Forbidden(string detail) =>
        TypedResults.Problem(statusCode: 403, title: "Forbidden", detail: detail);

    internal static bool IsMember(ClaimsPrincipal user, Project project) => project.Members.Any(m => m.UserId == UserId(user));

    private static bool MayManage(ClaimsPrincipal user, Project project) =>
        IsAdmin(user) || project.Members.Any(m => m.UserId == UserId(user) && m.Role == ProjectRoles.Owner);

    internal static bool IsAdmin(ClaimsPrincipal user) => user.IsInRole(SessionRoles.Admin);
    internal static string UserId(ClaimsPrincipal user) => user.FindFirstValue(ClaimTypes.NameIdentifier)!;
    internal static string Id(int id) => id.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static ProjectView View(Project project) => new(Id(project.Id), project.Name, project.OwnerId, project.CreatedAt,
        project.Members.OrderBy(m => m.Role == ProjectRoles.Owner ? 0 : 1).ThenBy(m => m.AddedAt).ThenBy(m => m.UserId, StringComparer.Ordinal)
            .Select(m => new MemberView(m.UserId, m.Role)).ToList());
}
