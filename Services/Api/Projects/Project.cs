namespace Api.Projects;

/// <summary>A project of record (SQLite or PostgreSQL). Its members say who may see it; the owner is a member with role owner.</summary>
public sealed class Project
{
    public int Id { get; set; }
    public required string Name { get; set; }
    /// <summary>The auth service's user id of whoever created it.</summary>
    public required string OwnerId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public List<ProjectMember> Members { get; set; } = [];
    public List<Deployment> Deployments { get; set; } = [];
}

public sealed class ProjectMember
{
    public int ProjectId { get; set; }
    public required string UserId { get; set; }
    /// <summary><see cref="ProjectRoles.Owner"/> or <see cref="ProjectRoles.Member"/>.</summary>
    public required string Role { get; set; }
    public DateTimeOffset AddedAt { get; set; }
    public Project? Project { get; set; }
}

/// <summary>
/// A deployment request of record. Its progress lives with its job (GET /api/jobs/{jobId}) and in the
/// <c>deployment_status</c> events, not here: the worker does not write to the api's database.
/// </summary>
public sealed class Deployment
{
    public required string Id { get; set; }
    public int ProjectId { get; set; }
    public required string Branch { get; set; }
    /// <summary>For example <c>staging</c> or <c>production</c>.</summary>
    public required string Environment { get; set; }
    /// <summary>The job that runs it, once enqueued.</summary>
    public string? JobId { get; set; }
    /// <summary>Who asked for it (auth's user id).</summary>
    public required string RequestedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public Project? Project { get; set; }
}

public static class ProjectRoles
{
    public const string Owner = "owner";
    public const string Member = "member";
}
