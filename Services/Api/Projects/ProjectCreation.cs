using System.Text.Json;
using Api.Outbox;
using Microsoft.EntityFrameworkCore;
using Platform.Jobs;
using Platform.Notifications;

namespace Api.Projects;

/// <summary>
/// Creating a project, in one place: the row, its owner's membership, and the intent to enqueue its
/// <c>provision</c> and <c>email</c> jobs and publish <c>project_created</c> (three outbox messages) commit in one
/// transaction. A commit that fails sends nothing, and a process that dies right after the commit sends
/// everything at its next start (<see cref="OutboxDispatcher"/>). The keys name the project: a job's idempotency
/// key and the event's dedupe key make a second send return the first.
/// </summary>
public static class ProjectCreation
{
    public static async Task<Project> CreateAsync(ProjectsDb db, string ownerId, string? ownerEmail, string name)
    {
        // On PostgreSQL a transient failure reruns the whole transaction (Aspire's retrying execution strategy refuses
        // a transaction it cannot rerun); on SQLite this runs once.
        var attempt = 0;
        return await db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            if (attempt++ > 0)
            {
                db.ChangeTracker.Clear(); // the failed attempt's rows were rolled back
            }
            return await CreateOnceAsync(db, ownerId, ownerEmail, name);
        });
    }

    private static async Task<Project> CreateOnceAsync(ProjectsDb db, string ownerId, string? ownerEmail, string name)
    {
        var now = DateTimeOffset.UtcNow;
        var project = new Project { Name = name, OwnerId = ownerId, CreatedAt = now };
        project.Members.Add(new ProjectMember { UserId = ownerId, Role = ProjectRoles.Owner, AddedAt = now });

        // Writes are not cancelled when the client goes away: the outcome must not depend on when it left.
        await using var transaction = await db.Database.BeginTransactionAsync(CancellationToken.None);
        db.Projects.Add(project);
        await db.SaveChangesAsync(CancellationToken.None); // the id the messages name
        var projectId = ProjectsApi.Id(project.Id);
        db.OutboxMessages.AddRange(
            OutboxMessage.Job(new EnqueueRequest("provision", "provision-database",
                JsonSerializer.Serialize(new { projectId }), IdempotencyKey: $"provision:{projectId}")),
            OutboxMessage.Job(new EnqueueRequest("email", "project-created",
                JsonSerializer.Serialize(new
                {
                    to = ownerEmail,
                    subject = $"Your project {name} is ready",
                    body = $"Project {name} ({projectId}) was created; its database is being provisioned.",
                }),
                IdempotencyKey: $"project-created-email:{projectId}")),
            OutboxMessage.Notification(NotificationChannels.ProjectCreated, new { projectId, name, ownerId }, $"project-created:{projectId}"));
        await db.SaveChangesAsync(CancellationToken.None);
        await transaction.CommitAsync(CancellationToken.None);
        return project;
    }
}
