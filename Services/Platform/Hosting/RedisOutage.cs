using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Platform.Hosting;

/// <summary>
/// Turns "Redis is unreachable" into a 503 problem+json with Retry-After, wherever in the request it surfaces
/// (authentication included), instead of a 500. Paired with <see cref="BacklogPolicy.FailFast"/> on the
/// client, a request during an outage fails at once instead of waiting out the command timeout.
/// </summary>
public sealed class RedisOutage(IProblemDetailsService problems, ILogger<RedisOutage> logger) : IExceptionHandler
{
    public static bool IsOutage(Exception e) => e is RedisConnectionException or RedisTimeoutException
        || (e.InnerException is { } inner && IsOutage(inner));

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
