using System.Security.Claims;
using System.Text.Json;
using Api.Projects;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Platform.Hosting;
using Platform.Jobs;

namespace Api.Deployments;

/// <summary>
/// <c>POST /api/projects/{id}/deployments {branch, environment}</c> -> 202 <c>{deploymentId, jobId}</c>: records the
/// request in SQLite and enqueues a <c>deployment</c> job that the worker runs (a simulated pipeline) under the lock
/// <c>deploy:{projectId}</c>. Production deployments get a higher priority. Progress: <c>GET /api/jobs/{jobId}</c> and
/// the notifier's <c>deployment_status</c> events.
/// </summary>
public static class DeploymentsApi
{
    public const string Queue = "deployment";
    /// <summary>Production deployments run before every other waiting deployment.</summary>
    public const int ProductionPriority = 10;
    public const int MaxBranchLength = 200;
    /// <summary>How many deployments a listing shows. Defaults to 20.</summary>
    public const int ListLimit = 20;

    public static IEndpointRouteBuilder MapDeploymentsApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/api/projects/{id}/deployments", Create).RequireAuthorization();
        endpoints.MapGet("/api/projects/{id}/deployments", List).RequireAuthorization();
        return endpoints;
    }

    /// <summary>
    /// The project's latest deployments (newest first, at most <see cref="ListLimit"/>), each with its job's state read
    /// from Redis (the jobs' reads are pipelined: one round trip's latency for the page). Not output-cached: the
    /// state changes while a deployment runs. A job past its retention shows state <c>null</c>.
    /// </summary>
    private static async Task<Results<Ok<List<DeploymentView>>, ProblemHttpResult>> List(
        string id, HttpContext context, ClaimsPrincipal user, ProjectsDb db, JobQueue jobs)
    {
        if (await ProjectsApi.FindAsync(db, id, context.RequestAborted) is not { } project)
        {
            return ProjectsApi.NotFound(id);
        }
        if (!ProjectsApi.IsAdmin(user) && !ProjectsApi.IsMember(user, project))
        {
            return ProjectsApi.Forbidden("Only the project's members may see its deployments.");
        }
        var rows = await db.Deployments.AsNoTracking()
            .Where(d => d.ProjectId == project.Id)
            .OrderByDescending(d => d.CreatedAt)
            .Take(ListLimit)
            .ToListAsync(context.RequestAborted);
        var states = await Task.WhenAll(rows.Select(d => d.JobId is { } job ? jobs.GetAsync(job) : Task.FromResult<JobStatus?>(null)));
        return TypedResults.Ok(rows.Select((d, i) => new DeploymentView(
            d.Id, ProjectsApi.Id(d.ProjectId), d.Branch, d.Environment, d.RequestedBy, d.CreatedAt, d.JobId,
            states[i]?.State, states[i]?.Error, states[i]?.FinishedAt)).ToList());
    }

    private static async Task<Results<Accepted<DeploymentAccepted>, ProblemHttpResult, ValidationProblem>> Create(
        string id, HttpContext context, ClaimsPrincipal user, ProjectsDb db, JobQueue jobs)
    {
        var (body, problem) = await JsonBody.ReadAsync<CreateDeploymentRequest>(context.Request);
        if (problem is not null)
        {
            return problem;
        }
        var errors = new Dictionary<string, string[]>();
        var branch = body!.Branch?.Trim();
        if (string.IsNullOrEmpty(branch) || branch.Length > MaxBranchLength || branch.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            errors["branch"] = [$"A branch name of 1 to {MaxBranchLength} characters without spaces is required."];
        }
        var environment = body.Environment?.Trim().ToLowerInvariant();
        if (string.IsNullOrEmpty(environment) || environment.Length > 32 || !environment.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
        {
            errors["environment"] = ["An environment of 1 to 32 letters, digits or '-' is required, e.g. staging or production."];
        }
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }
        if (await ProjectsApi.FindAsync(db, id, context.RequestAborted) is not { } project)
        {
            return ProjectsApi.NotFound(id);
        }
        if (!ProjectsApi.IsAdmin(user) && !ProjectsApi.IsMember(user, project))
        {
            return ProjectsApi.Forbidden("Only the project's members may deploy it.");
        }

        var deployment = new Deployment
        {
            Id = Guid.NewGuid().ToString("N"),
            ProjectId = project.Id,
            Branch = branch!,
            Environment = environment!,
            RequestedBy = ProjectsApi.UserId(user),
            CreatedAt = DateTimeOffset.UtcNow,
        };
        var projectId = ProjectsApi.Id(project.Id);
        var payload = JsonSerializer.Serialize(new { projectId, deploymentId = deployment.Id, branch, environment });

        // The job first, under an idempotency key named for the deployment, then the row: a deployment of record
        // always has its job. If the row cannot be written the job runs for a deployment nobody can look up, which
        // is visible (its job and events carry the ids) rather than lost.
        var enqueued = await jobs.EnqueueAsync(new EnqueueRequest(Queue, "deploy", payload,
            Priority: environment == "production" ? ProductionPriority : 0,
            IdempotencyKey: $"deployment:{deployment.Id}"));
        deployment.JobId = enqueued.JobId;
        db.Deployments.Add(deployment);
        await db.SaveChangesAsync(CancellationToken.None);

        return TypedResults.Accepted($"/api/jobs/{enqueued.JobId}", new DeploymentAccepted(deployment.Id, enqueued.JobId, projectId));
    }
}

public sealed record CreateDeploymentRequest(string? Branch, string? Environment);
public sealed record DeploymentAccepted(string DeploymentId, string JobId, string ProjectId);
public sealed record DeploymentView(string Id, string ProjectId, string Branch, string Environment, string RequestedBy,
    DateTimeOffset CreatedAt, string? JobId, JobState? State, string? Error, DateTimeOffset? FinishedAt);
