using Microsoft.AspNetCore.Http.HttpResults;
using Platform.Jobs;
using Platform.Sessions;

namespace Worker;

/// <summary>
/// Operator endpoints for the Aspire dashboard's commands on the worker resource. The worker has no external
/// endpoint, and inside the app's network these answer only the AppHost: its commands send the key it generated
/// (the <c>worker-admin-key</c> parameter, here <c>ServiceKeys:apphost</c>); anyone else gets 401. The
/// authenticated admin API for people is the gateway's.
/// </summary>
public static class JobAdminEndpoints
{
    public const string AppHostService = "apphost";

    public static IEndpointRouteBuilder MapJobAdmin(this IEndpointRouteBuilder endpoints, string prefix)
    {
        var admin = endpoints.MapGroup(prefix).RequireServiceKey(AppHostService);
        admin.MapGet("/queues", GetQueues);
        admin.MapPost("/dead/retry", RetryAllDead);
        admin.MapPost("/queues/{queue}/dead/retry", RetryDead);
        return endpoints;
    }

    private static async Task<Ok<QueueCounts[]>> GetQueues(JobQueue jobs) =>
        TypedResults.Ok(await Task.WhenAll(jobs.Queues.Select(jobs.GetCountsAsync)));

    private static async Task<Ok<Dictionary<string, long>>> RetryAllDead(JobQueue jobs)
    {
        var retried = new Dictionary<string, long>();
        foreach (var queue in jobs.Queues)
        {
            retried[queue] = await jobs.RetryDeadAsync(queue);
        }
        return TypedResults.Ok(retried);
    }

    private static async Task<Results<Ok<Dictionary<string, long>>, ProblemHttpResult>> RetryDead(string queue, JobQueue jobs)
    {
        if (!jobs.Queues.Contains(queue))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown queue",
                detail: $"Queues: {string.Join(", ", jobs.Queues)}.");
        }
        return TypedResults.Ok(new Dictionary<string, long> { [queue] = await jobs.RetryDeadAsync(queue) });
    }
}
