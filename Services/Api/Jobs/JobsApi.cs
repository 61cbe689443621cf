using System.Security.Claims;
using System.Text.Json;
using Api.Projects;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Platform.Hosting;
using Platform.Jobs;
using Platform.Sessions;

namespace Api.Jobs;

/// <summary>
/// Job status for its requester, and the operators' queue endpoints (admins): counts, retry of dead jobs, cancel,
/// and a raw enqueue for operators' one-off jobs. Validation failures of the queue are 400 problem+json and
/// enqueue nothing.
/// </summary>
public static class JobsApi
{
    public static IEndpointRouteBuilder MapJobsApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/api/jobs/{id}", Get).RequireAuthorization();

        var admin = endpoints.MapGroup("/api/admin").RequireAuthorization(policy => policy.RequireRole(SessionRoles.Admin));
        admin.MapGet("/queues", Counts);
        admin.MapGet("/queues/{queue}/dead", Dead);
        admin.MapPost("/queues/{queue}/dead/retry", RetryDead);
        admin.MapPost("/queues/{queue}/jobs", Enqueue);
        admin.MapPost("/jobs/{id}/cancel", Cancel);
        admin.MapPost("/jobs/{id}/retry", RetryOne);
        return endpoints;
    }

    /// <summary>
    /// A job's status. Admins see every job; a user sees the job of a deployment of a project they belong to.
    /// Anything else is 404, so job ids of other projects cannot be probed.
    /// </summary>
    private static async Task<Results<Ok<JobStatus>, ProblemHttpResult>> Get(string id, ClaimsPrincipal user, ProjectsDb db, JobQueue jobs, CancellationToken cancellationToken)
    {
        if (!ProjectsApi.IsAdmin(user))
        {
            var userId = ProjectsApi.UserId(user);
            var visible = await db.Deployments.AsNoTracking()
                .AnyAsync(d => d.JobId == id && d.Project!.Members.Any(m => m.UserId == userId), cancellationToken);
            if (!visible)
            {
                return NoSuchJob(id);
            }
        }
        return await jobs.GetAsync(id) is { } status ? TypedResults.Ok(status) : NoSuchJob(id);
    }

    private static async Task<Ok<QueueCounts[]>> Counts(JobQueue jobs) =>
        TypedResults.Ok(await Task.WhenAll(jobs.Queues.Select(jobs.GetCountsAsync)));

    /// <summary>The oldest dead jobs of a queue with their last errors (at most <c>limit</c>, 1 to 500, default 100).</summary>
    private static async Task<Results<Ok<DeadJobs>, ValidationProblem>> Dead(string queue, JobQueue jobs, int? limit)
    {
        if (limit is < 1 or > 500)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["limit"] = ["The limit must be between 1 and 500."] });
        }
        try
        {
            return TypedResults.Ok(await jobs.ListDeadAsync(queue, limit ?? 100));
        }
        catch (JobValidationException e)
        {
            return Invalid(e);
        }
    }

    /// <summary>One dead job back to ready with fresh attempts; 409 if it exists but is not dead.</summary>
    private static async Task<Results<Ok<RetriedDead>, ProblemHttpResult>> RetryOne(string id, JobQueue jobs)
    {
        if (await jobs.GetAsync(id) is not { } job)
        {
            return NoSuchJob(id);
        }
        var retried = job.State == JobState.Dead ? await jobs.RetryDeadAsync(job.Queue, id) : 0;
        return retried == 1
            ? TypedResults.Ok(new RetriedDead(job.Queue, 1))
            : TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Not dead",
                detail: $"Job '{id}' is not in the dead letter set; only dead jobs are retried.");
    }

    private static async Task<Results<Ok<RetriedDead>, ValidationProblem>> RetryDead(string queue, JobQueue jobs)
    {
        try
        {
            return TypedResults.Ok(new RetriedDead(queue, await jobs.RetryDeadAsync(queue)));
        }
        catch (JobValidationException e)
        {
            return Invalid(e);
        }
    }

    private static async Task<Results<Accepted<EnqueueResult>, ProblemHttpResult, ValidationProblem>> Enqueue(string queue, HttpRequest request, JobQueue jobs)
    {
        var (body, problem) = await JsonBody.ReadAsync<EnqueueJobRequest>(request, maxBytes: 256 * 1024);
        if (problem is not null)
        {
            return problem;
        }
        if (body!.DelaySeconds is < 0 or > 365 * 24 * 3600)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["delaySeconds"] = ["The delay must be 0 or more seconds."] });
        }
        try
        {
            var result = await jobs.EnqueueAsync(new EnqueueRequest(queue, body.Type ?? "", body.Payload?.GetRawText() ?? "",
                body.Priority ?? 0, body.DelaySeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null, body.MaxAttempts, body.IdempotencyKey));
            return TypedResults.Accepted($"/api/jobs/{result.JobId}", result);
        }
        catch (JobValidationException e)
        {
            return Invalid(e);
        }
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Cancel(string id, JobQueue jobs) =>
        await jobs.CancelAsync(id) switch
        {
            CancelOutcome.Cancelled => TypedResults.NoContent(),
            CancelOutcome.NotFound => NoSuchJob(id),
            _ => TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Not cancellable",
                detail: $"Job '{id}' is running or already finished."),
        };

    private static ProblemHttpResult NoSuchJob(string id) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such job", detail: $"There is no job '{id}' you can see.");

    private static ValidationProblem Invalid(JobValidationException e) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [e.Field] = [e.Message] });
}

/// <summary>An operator's raw enqueue. <see cref="Payload"/> is any JSON value.</summary>
public sealed record EnqueueJobRequest(string? Type, JsonElement? Payload, int? Priority, double? DelaySeconds, int? MaxAttempts, string? IdempotencyKey);
public sealed record RetriedDead(string Queue, long Retried);
