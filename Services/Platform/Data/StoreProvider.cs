using System.Data.Common;

namespace Platform.Data;

/// <summary>Which database engine holds a service's data of record.</summary>
public enum StoreProvider
{
    /// <summary>A SQLite file beside the service (the embedded default).</summary>
    Sqlite,

    /// <summary>A PostgreSQL database (the AppHost's container or local server, or a deployment's).</summary>
    PostgreSql,
}

public static class StoreProviders
{
    /// <summary>
    /// PostgreSQL when the connection string names a server (<c>Host=</c>, as Aspire's PostgreSQL resources hand it
    /// out), SQLite otherwise (<c>Data Source=file</c>).
    /// </summary>
    public static StoreProvider Of(string connectionString)
    {
        var parsed = new DbConnectionStringBuilder { ConnectionString = connectionString };
        return parsed.ContainsKey("Host") || parsed.ContainsKey("Server") ? StoreProvider.PostgreSql : StoreProvider.Sqlite;
    }
}
