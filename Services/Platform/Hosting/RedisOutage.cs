using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Platform.Hosting;

/// <summary>
/// Turns "Redis is unavailable" into a 503 problem+json with Retry-After, wherever in the request it surfaces
/// (authentication included), instead of a 500. Paired with <see cref="BacklogPolicy.FailFast"/> on the
/// client, a request during an outage fails at once instead of waiting out the command timeout.
/// </summary>
public sealed class RedisOutage(IProblemDetailsService problems, ILogger<RedisOutage> logger) : IExceptionHandler
{
    /// <summary>
    /// Error prefixes with which a reachable server refuses work for a while: still reading its data after a restart
    /// (LOADING), running a long script (BUSY), a replica cut off from its master or promoted late in a failover
    /// (MASTERDOWN, READONLY), out of memory (OOM), unable to persist (MISCONF), or a cluster moving slots
    /// (CLUSTERDOWN, TRYAGAIN). For a caller they are the same as an unreachable server: try again shortly.
    /// </summary>
    private static readonly string[] UnavailablePrefixes =
        ["LOADING", "BUSY", "MASTERDOWN", "READONLY", "OOM", "MISCONF", "CLUSTERDOWN", "TRYAGAIN"];

    /// <summary>
    /// Unreachable, timed out (<see cref="RedisTimeoutException"/> is a <see cref="TimeoutException"/>, not a
    /// <see cref="RedisException"/>), or refusing with one of the errors above; also when wrapped. Also a command that
    /// StackExchange.Redis cancelled itself, its connection failing before the reply (seen during a cluster failover:
    /// a <see cref="TaskCanceledException"/> without a token); a cancellation with a token (an aborted request, an
    /// HttpClient timeout) is the caller's, not Redis's.
    /// </summary>
    public static bool IsOutage(Exception e) => e is RedisConnectionException or RedisTimeoutException or Jobs.JobNotReplicatedException
        || e is TaskCanceledException { CancellationToken.CanBeCanceled: false }
        || (e is RedisServerException server && IsUnavailableReply(server.Message))
        || (e.InnerException is { } inner && IsOutage(inner));

    private static bool IsUnavailableReply(string message) =>
        UnavailablePrefixes.Any(prefix => message.StartsWith(prefix, StringComparison.Ordinal)
            && (message.Length == prefix.Length || message[prefix.Length] == ' '));

    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (!IsOutage(exception))
        {
            return false;
        }
        logger.LogWarning("Redis unavailable during {Method} {Path}: {Message}", context.Request.Method, context.Request.Path, exception.Message);
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.RetryAfter = "5";
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails =
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "Redis is unavailable",
                Detail = "This service cannot reach Redis right now. Retry shortly.",
            },
        });
    }
}
