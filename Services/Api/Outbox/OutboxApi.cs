using System.Globalization;
using Api.Projects;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Platform.Sessions;

namespace Api.Outbox;

/// <summary>
/// The operators' view of the outbox (admins): how many messages wait to be sent, the messages Redis refused for good
/// (parked by <see cref="OutboxDispatcher"/>, with their errors), and sending a parked one again once its cause is fixed.
/// </summary>
public static class OutboxApi
{
    private const int ListLimit = 100;

    public static IEndpointRouteBuilder MapOutboxApi(this IEndpointRouteBuilder endpoints)
    {
        var admin = endpoints.MapGroup("/api/admin/outbox").RequireAuthorization(policy => policy.RequireRole(SessionRoles.Admin));
        admin.MapGet("/", List);
        admin.MapPost("/{id}/retry", Retry);
        return endpoints;
    }

    /// <summary>The pending count, the parked count and the oldest parked messages (at most 100).</summary>
    private static async Task<Ok<OutboxState>> List(ProjectsDb db, CancellationToken cancellationToken)
    {
        var pending = await db.OutboxMessages.CountAsync(m => m.ParkedAt == null, cancellationToken);
        var parkedCount = await db.OutboxMessages.CountAsync(m => m.ParkedAt != null, cancellationToken);
        var parked = await db.OutboxMessages.AsNoTracking().Where(m => m.ParkedAt != null).OrderBy(m => m.Id).Take(ListLimit)
            .Select(m => new ParkedOutboxMessage(m.Id, m.Kind, m.Payload, m.CreatedAt, m.Attempts, m.LastError, m.ParkedAt!.Value))
            .ToListAsync(cancellationToken);
        return TypedResults.Ok(new OutboxState(pending, parkedCount, parked));
    }

    /// <summary>
    /// Un-parks a message and runs a dispatch pass at once; answers where the message is after it: <c>sent</c>,
    /// <c>parked</c> again (with the new error) or <c>pending</c> (an outage: the poll sends it later).
    /// </summary>
    private static async Task<Results<Ok<OutboxRetry>, ProblemHttpResult>> Retry(string id, ProjectsDb db, OutboxDispatcher dispatcher,
        ILogger<OutboxDispatcher> logger, CancellationToken cancellationToken)
    {
        if (!long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var messageId))
        {
            return NoSuchMessage(id);
        }
        var unparked = await db.OutboxMessages.Where(m => m.Id == messageId && m.ParkedAt != null)
            .ExecuteUpdateAsync(update => update.SetProperty(m => m.ParkedAt, (DateTimeOffset?)null), cancellationToken);
        if (unparked == 0)
        {
            return await db.OutboxMessages.AnyAsync(m => m.Id == messageId, cancellationToken)
                ? TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Not parked",
                    detail: $"Outbox message {id} is not parked: it waits to be sent, and is sent without help.")
                : NoSuchMessage(id);
        }
        try
        {
            await dispatcher.DispatchPendingAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The pass failed (the store, say): the message is un-parked, and the next poll sends it.
            logger.LogWarning(e, "Outbox: the pass after un-parking message {Id} failed; the next pass tries again.", messageId);
        }
        var message = await db.OutboxMessages.AsNoTracking().FirstOrDefaultAsync(m => m.Id == messageId, cancellationToken);
        var state = message is null ? "sent" : message.ParkedAt is not null ? "parked" : "pending";
        return TypedResults.Ok(new OutboxRetry(messageId, state, message?.LastError));
    }

    private static ProblemHttpResult NoSuchMessage(string id) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such message",
            detail: $"There is no outbox message '{id}': it was sent, or never existed.");
}

/// <summary>The outbox as an operator sees it.</summary>
public sealed record OutboxState(int Pending, int Parked, IReadOnlyList<ParkedOutboxMessage> ParkedMessages);

/// <summary>A message Redis refused for good: what it was, when it was written and parked, and why.</summary>
public sealed record ParkedOutboxMessage(long Id, string Kind, string Payload, DateTimeOffset CreatedAt, int Attempts, string? LastError,
    DateTimeOffset ParkedAt);

/// <summary>A retried message's state after the pass: <c>sent</c>, <c>parked</c> or <c>pending</c>.</summary>
public sealed record OutboxRetry(long Id, string State, string? LastError);
