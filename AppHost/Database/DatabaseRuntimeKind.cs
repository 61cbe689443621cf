namespace AppHost.Database;

/// <summary>Where the services' data of record (users, projects) lives.</summary>
public enum DatabaseRuntimeKind
{
    /// <summary>The <c>postgres</c> container image with a data volume, run by Docker or Podman (always used when publishing).</summary>
    Container,

    /// <summary>A <c>postgres</c> found on PATH, run by the orchestrator as an executable resource.</summary>
    Local,

    /// <summary>No database server: each service keeps a SQLite file under its own folder (needs only the .NET SDK).</summary>
    Sqlite,
}

/// <summary>
/// The runtime that was chosen and a sentence saying why (logged on the AppHost's console and the database resource's).
/// <paramref name="PostgresBinDirectory"/> is the folder of <c>postgres</c> and <c>initdb</c> for <see cref="DatabaseRuntimeKind.Local"/>.
/// </summary>
public sealed record DatabaseRuntimeChoice(DatabaseRuntimeKind Kind, string Reason, string? PostgresBinDirectory = null);
