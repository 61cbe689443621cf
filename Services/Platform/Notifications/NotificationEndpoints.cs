using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Hosting;
using Platform.Sessions;

namespace Platform.Notifications;

/// <summary>An alert an admin posts to everyone.</summary>
public sealed record AlertRequest(string? Message, string? Severity);

/// <summary>What <c>POST /notifications/alerts</c> answers: the id of the published event.</summary>
public sealed record AlertAccepted(long Id);

public static class NotificationEndpoints
{
    public const int MaxAlertLength = 1000;
    public static readonly IReadOnlyList<string> Severities = ["info", "warning", "critical"];

    /// <summary>
    /// Maps <c>GET {prefix}/stream</c> (Server-Sent Events), <c>GET {prefix}/history?channel=</c> and
    /// <c>POST {prefix}/alerts</c> (admin). All need a session (<c>AddSessionAuthentication</c>) and <c>AddNotificationStream</c>.
    /// </summary>
    public static IEndpointRouteBuilder MapNotificationsApi(this IEndpointRouteBuilder endpoints, string prefix = "/notifications")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var group = endpoints.MapGroup(prefix);
        group.MapGet("/stream", StreamAsync).RequireAuthorization();
        group.MapGet("/history", HistoryAsync).RequireAuthorization();
        group.MapPost("/alerts", PostAlertAsync).RequireAuthorization(policy => policy.RequireRole(SessionRoles.Admin));
        return endpoints;
    }

    private static async Task<Results<NotificationStream, ProblemHttpResult>> StreamAsync(
        HttpContext context, NotificationHub hub, NotificationHistory history, NotificationAccess access, SessionStore sessions,
        StreamSlots slots, IOptions<NotificationStreamOptions> options, IOptions<SessionStoreOptions> sessionOptions, NotificationTelemetry telemetry,
        ILoggerFactory loggers)
    {
        if (!TryReadLastEventId(context.Request, out var lastEventId))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid Last-Event-ID",
                detail: "Last-Event-ID (header or lastEventId query parameter) must be an event id as the stream sent it (<epoch>-<n>), or a whole number (an id of the current epoch).");
        }
        var viewer = Viewer(context, sessionOptions.Value);
        var slot = await slots.TryTakeAsync(viewer.UserId);
        if (slot is null)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many streams",
                detail: $"This account has {options.Value.MaxStreamsPerUser} streams open already. Close one to open another.");
        }
        // Given back when the response ends, however it ends (the lease frees it should this process die).
        context.Response.RegisterForDisposeAsync(slot);

        // Subscribe first, read the history second: whatever is published in between is in both, and the stream
        // skips the second copy by id. The other order would lose it.
        var subscription = await hub.SubscribeAsync(context.Abort, context.RequestAborted);
        if (subscription is null)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Notifications are unavailable",
                detail: "This notifier is not subscribed to Redis yet. Retry shortly.");
        }
        // Also when the stream never runs (the client left before it started): a subscription left behind
        // would hold a slot in the hub for the life of the process. Leaving twice is harmless.
        context.Response.RegisterForDispose(subscription);
        HistoryRead? replay = null;
        try
        {
            if (lastEventId is { } after)
            {
                replay = await history.ReadSinceAsync(after, ChannelsFor(viewer));
                if (replay.Trimmed is { } trimmed)
                {
                    replay = await access.MaySeeAnyAsync(viewer, trimmed, context.RequestAborted) ? replay.StartOver() : replay.KeepPlace();
                }
            }
        }
        catch
        {
            subscription.Dispose();
            throw;
        }

        return new NotificationStream(subscription, slot, replay, viewer, access, sessions, options.Value, telemetry,
            loggers.CreateLogger(typeof(NotificationStream)));
    }

    private static async Task<Results<Ok<List<JsonElement>>, ProblemHttpResult>> HistoryAsync(
        string? channel, HttpContext context, NotificationHistory history, NotificationAccess access, IOptions<SessionStoreOptions> sessionOptions,
        ILogger<NotificationHistory> logger)
    {
        if (!NotificationChannels.IsKnown(channel))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Unknown channel",
                detail: $"channel must be one of: {string.Join(", ", NotificationChannels.All)}.");
        }
        var viewer = Viewer(context, sessionOptions.Value);
        var visible = new List<JsonElement>();
        foreach (var notification in await history.ReadChannelAsync(channel!))
        {
            bool canSee;
            try
            {
                canSee = await access.CanSeeAsync(viewer, notification, context.RequestAborted);
            }
            catch (Exception e) when (!RedisOutage.IsOutage(e) && !context.RequestAborted.IsCancellationRequested)
            {
                // The cause goes to the log, never to the client: it names internal services and addresses.
                logger.LogWarning(e, "History for user {UserId}: project membership could not be read", viewer.UserId);
                return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Project membership is unavailable",
                    detail: "Could not tell which projects you belong to. Retry shortly.");
            }
            if (canSee)
            {
                visible.Add(JsonDocument.Parse(notification.Json).RootElement.Clone());
            }
        }
        return TypedResults.Ok(visible);
    }

    private static async Task<Results<Accepted<AlertAccepted>, ProblemHttpResult>> PostAlertAsync(
        HttpRequest request, NotificationPublisher publisher)
    {
        var (alert, problem) = await JsonBody.ReadAsync<AlertRequest>(request);
        if (problem is not null)
        {
            return problem;
        }
        if (string.IsNullOrWhiteSpace(alert!.Message) || alert.Message.Length > MaxAlertLength)
        {
            return Invalid($"message is required, at most {MaxAlertLength} characters.");
        }
        if (alert.Severity is null || !Severities.Contains(alert.Severity))
        {
            return Invalid($"severity must be one of: {string.Join(", ", Severities)}.");
        }

        var id = await publisher.PublishAsync(NotificationChannels.SystemAlert,
            new { message = alert.Message, severity = alert.Severity }, request.HttpContext.RequestAborted);
        return TypedResults.Accepted($"{request.PathBase}{request.Path.Value![..^"/alerts".Length]}/history?channel={NotificationChannels.SystemAlert}",
            new AlertAccepted(id));

        static ProblemHttpResult Invalid(string detail) =>
            TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid alert", detail: detail);
    }

    /// <summary>Channels whose history may hold something for the viewer (project_created is for admins only).</summary>
    private static IReadOnlyList<string> ChannelsFor(NotificationViewer viewer) => viewer.IsAdmin
        ? NotificationChannels.All
        : [NotificationChannels.DeploymentStatus, NotificationChannels.SystemAlert];

    /// <summary>EventSource sends the header when it reconnects; a first connection may pass it as <c>?lastEventId=</c>.</summary>
    private static bool TryReadLastEventId(HttpRequest request, out EventPosition? lastEventId)
    {
        lastEventId = null;
        var raw = request.Headers["Last-Event-ID"].ToString();
        if (raw.Length == 0)
        {
            raw = request.Query["lastEventId"].ToString();
        }
        if (raw.Length == 0)
        {
            return true;
        }
        return EventPosition.TryParse(raw, out lastEventId);
    }

    /// <summary>The authenticated caller, with the session token it came with (bearer or cookie), as the session scheme reads it.</summary>
    private static NotificationViewer Viewer(HttpContext context, SessionStoreOptions sessionOptions)
    {
        var header = context.Request.Headers.Authorization.ToString();
        var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? header["Bearer ".Length..].Trim()
            : context.Request.Cookies[sessionOptions.CookieName] ?? "";
        return new NotificationViewer(context.User.FindFirstValue(ClaimTypes.NameIdentifier)!, context.User.IsInRole(SessionRoles.Admin), token);
    }
}
