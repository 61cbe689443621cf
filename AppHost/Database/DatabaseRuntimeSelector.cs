using Aspire.Hosting;

namespace AppHost.Database;

/// <summary>
/// Decides where the data of record lives, from the <c>Database:Runtime</c> setting and what this machine has.
/// Pure apart from the two probes it is given, so every branch is testable without a container engine.
/// </summary>
public static class DatabaseRuntimeSelector
{
    public const string Auto = "auto";
    public const string Container = "container";
    public const string Local = "local";
    public const string Sqlite = "sqlite";
    public static readonly IReadOnlyList<string> AllowedValues = [Auto, Container, Local, Sqlite];

    /// <param name="setting">The <c>Database:Runtime</c> value; null or empty means <c>auto</c>.</param>
    /// <param name="isPublishMode">True when writing a deployment manifest: always the container.</param>
    /// <param name="containerEngineAnswers">Probe: does a Docker or Podman engine answer?</param>
    /// <param name="findPostgres">Probe: the folder holding <c>postgres</c> and <c>initdb</c>, or null.</param>
    /// <remarks><c>auto</c> never fails: SQLite needs nothing but the .NET SDK.</remarks>
    public static DatabaseRuntimeChoice Select(string? setting, bool isPublishMode, Func<bool> containerEngineAnswers, Func<string?> findPostgres)
    {
        ArgumentNullException.ThrowIfNull(containerEngineAnswers);
        ArgumentNullException.ThrowIfNull(findPostgres);

        var runtime = string.IsNullOrWhiteSpace(setting) ? Auto : setting.Trim().ToLowerInvariant();
        if (!AllowedValues.Contains(runtime))
        {
            throw new DistributedApplicationException(
                $"Database:Runtime is '{setting}', which is not a runtime this AppHost knows. Allowed values: {string.Join(", ", AllowedValues)}.");
        }

        if (isPublishMode)
        {
            return new(DatabaseRuntimeKind.Container, "publishing: deployments always use the PostgreSQL container");
        }

        switch (runtime)
        {
            case Container:
                return new(DatabaseRuntimeKind.Container, "Database:Runtime is 'container'");
            case Sqlite:
                return new(DatabaseRuntimeKind.Sqlite, "Database:Runtime is 'sqlite'");
            case Local:
                var bin = findPostgres() ?? throw new DistributedApplicationException(
                    "Database:Runtime is 'local' but no postgres and initdb were found on PATH. Install PostgreSQL " +
                    "(Debian/Ubuntu: sudo apt-get install postgresql, then put /usr/lib/postgresql/<version>/bin on PATH; " +
                    "macOS: brew install postgresql) or set Database:Runtime to 'container', 'sqlite' or 'auto'.");
                return new(DatabaseRuntimeKind.Local, $"Database:Runtime is 'local': {bin}", bin);
        }

        if (containerEngineAnswers())
        {
            return new(DatabaseRuntimeKind.Container, "auto: a container engine answered");
        }
        if (findPostgres() is { } found)
        {
            return new(DatabaseRuntimeKind.Local, $"auto: no container engine answered; using postgres from {found}", found);
        }
        return new(DatabaseRuntimeKind.Sqlite,
            "auto: no container engine answered and no postgres is on PATH; using SQLite files " +
            "(for PostgreSQL, start Docker or install postgres)");
    }

    /// <summary>The folder on PATH that holds both <c>postgres</c> and <c>initdb</c>, or null.</summary>
    public static string? FindPostgresBinDirectory() =>
        Redis.MachineProbes.FindOnPath("postgres") is { } postgres
        && Path.GetDirectoryName(postgres) is { } folder
        && File.Exists(Path.Combine(folder, OperatingSystem.IsWindows() ? "initdb.exe" : "initdb"))
            ? folder
            : null;
}
