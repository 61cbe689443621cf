namespace Platform.Tests.Postgres;

/// <summary>
/// One PostgreSQL server for the store tests (each test takes a database of its own). Where PostgreSQL is missing,
/// <see cref="Unavailable"/> says so and the tests on it are skipped; under CI (<c>CI=true</c>) they fail instead.
/// </summary>
public sealed class PostgresServerFixture : IAsyncLifetime
{
    public PostgresServerProcess? Server { get; private set; }

    public string? Unavailable { get; private set; }

    public async Task InitializeAsync()
    {
        Unavailable = Redis.RedisServerProcess.UnderCi ? null : PostgresServerProcess.Unavailable;
        if (Unavailable is null)
        {
            Server = await PostgresServerProcess.StartNewAsync();
        }
    }

    public async Task DisposeAsync()
    {
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServerFixture>
{
    public const string Name = "postgres";
}
