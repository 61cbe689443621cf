namespace Worker.Handlers;

/// <summary>Where a project's own database is made: a SQLite file, or a PostgreSQL database on the projects server.</summary>
public interface IProjectDatabases
{
    /// <summary>
    /// Creates the database of <paramref name="projectId"/> unless it exists, on behalf of the holder of the lock
    /// <c>db:{projectId}</c> with <paramref name="fencingToken"/>. <paramref name="lockLost"/> fires when that lock is lost.
    /// </summary>
    Task<ProvisionOutcome> ProvisionAsync(string projectId, long fencingToken, CancellationToken lockLost);
}

/// <summary>Whether this call created the database, and where it is (a file path or a database name).</summary>
public sealed record ProvisionOutcome(bool Created, string Location);

/// <summary>
/// A newer holder of the project's lock has provisioned (or is provisioning) it: this holder's work is refused and the
/// job retries, to find the database there.
/// </summary>
public sealed class FencedOutException(string message) : Exception(message);
