namespace Api.Projects;

public sealed record CreateProjectRequest(string? Name);
public sealed record RenameProjectRequest(string? Name);
public sealed record AddMemberRequest(string? UserId);

public sealed record MemberView(string UserId, string Role);
public sealed record ProjectView(string Id, string Name, string OwnerId, DateTimeOffset CreatedAt, IReadOnlyList<MemberView> Members);
/// <summary>One line of the caller's listing: the project and the caller's role in it.</summary>
public sealed record ProjectSummary(string Id, string Name, string OwnerId, DateTimeOffset CreatedAt, string Role);
