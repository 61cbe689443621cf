using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Platform.Jobs;
using Platform.Locking;
using Platform.Tests.Jobs;
using Platform.Tests.Postgres;
using Platform.Tests.Redis;
using Worker;
using Worker.Handlers;

namespace Platform.Tests.Worker;

/// <summary>
/// The provision job on PostgreSQL: each project gets a database <c>project_&lt;id&gt;</c> on the projects server, made
/// under the lock <c>db:{projectId}</c> (real redis-server) and fenced by its token (a real PostgreSQL server, where
/// each test has a projects database of its own; project ids are unique per test).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresProvisionTests(PostgresServerFixture postgres) : IAsyncLifetime
{
    private RedisServerProcess _redis = null!;
    private StackExchange.Redis.ConnectionMultiplexer _connection = null!;
    private readonly string _queue = $"q{Guid.NewGuid():N}";

    public async Task InitializeAsync()
    {
        _redis = await RedisServerProcess.StartNewAsync();
        _connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await _connection.DisposeAsync();
        await _redis.DisposeAsync();
    }

    private async Task<string> ProjectsConnectionStringAsync()
    {
        Skip.If(postgres.Unavailable is not null, postgres.Unavailable);
        return postgres.Server!.ConnectionString(await postgres.Server.CreateDatabaseAsync("projects"));
    }

    private static PostgresProjectDatabases Databases(string connectionString, TimeSpan provisionDuration) =>
        new(connectionString, Microsoft.Extensions.Options.Options.Create(new WorkerOptions { ProvisionDuration = provisionDuration }));

    private RedisDistributedLock Locks() => new(_connection, TestMeters.Factory, NullLogger<RedisDistributedLock>.Instance);

    [SkippableFact]
    public async Task TwoConcurrentProvisionJobsForOneProjectCreateItsDatabaseExactlyOnce()
    {
        var projects = await ProjectsConnectionStringAsync();
        var handler = new ProvisionHandler(Locks(), Databases(projects, TimeSpan.FromMilliseconds(500)), NullLogger<ProvisionHandler>.Instance);
        var project = Guid.NewGuid().ToString("N");
        var payload = $"{{\"projectId\":\"{project}\"}}";

        var jobs = JobQueueTests.Queue(_connection, _queue);
        var ids = new[] { (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "provision", payload))).JobId,
                          (await jobs.EnqueueAsync(new EnqueueRequest(_queue, "provision", payload))).JobId };
        using var stop = new CancellationTokenSource();
        var processor = JobQueueTests.Processor(jobs, _queue, handler, 2).RunAsync(stop.Token);
        await JobQueueTests.WaitUntilAsync(async () => (await Task.WhenAll(ids.Select(jobs.GetAsync)))
            .All(s => s!.State is JobState.Completed or JobState.Failed or JobState.Dead), TimeSpan.FromSeconds(60), "both jobs to finish");
        await stop.CancelAsync();
        await processor;
        var statuses = (await Task.WhenAll(ids.Select(jobs.GetAsync)))!;

        Assert.All(statuses, s => Assert.Equal(JobState.Completed, s!.State));
        Assert.True(statuses[1]!.StartedAt < statuses[0]!.FinishedAt, "the two jobs did not run at the same time");
        Assert.Equal(["\"created\":false", "\"created\":true"], statuses.Select(s => s!.Result![1..^1].Split(',')[0]).Order());
        Assert.Equal([$"project_{project}"], await DatabasesOfAsync(project)); // no temporary database left behind
        Assert.Equal(project, await ProjectRecordAsync(project, "id"));
    }

    /// <summary>
    /// A holder whose token is older than the newest claim (it lost the lock: the next holder's token is greater)
    /// cannot recreate the database, neither after the newer holder created it nor while it is building its own
    /// copy; what it built is dropped, and the database keeps the newer holder's token.
    /// </summary>
    [SkippableFact]
    public async Task AHolderThatLostItsLockCannotRecreateOrReplaceTheDatabase()
    {
        var projects = await ProjectsConnectionStringAsync();
        var project = Guid.NewGuid().ToString("N");
        var locks = Locks();
        var stale = await TokenAsync(locks, project);
        var newer = await TokenAsync(locks, project);
        Assert.True(newer > stale);

        // The stale holder starts first and is slow; the newer one provisions while it builds.
        var slow = Databases(projects, TimeSpan.FromSeconds(2)).ProvisionAsync(project, stale, CancellationToken.None);
        await WaitForTemporaryDatabaseAsync(project);
        var created = await Databases(projects, TimeSpan.Zero).ProvisionAsync(project, newer, CancellationToken.None);
        Assert.True(created.Created);
        await Assert.ThrowsAsync<FencedOutException>(() => slow);

        // Afterwards it is refused at once.
        await Assert.ThrowsAsync<FencedOutException>(() => Databases(projects, TimeSpan.Zero).ProvisionAsync(project, stale, CancellationToken.None));

        Assert.Equal([$"project_{project}"], await DatabasesOfAsync(project));
        Assert.Equal(newer.ToString(), await ProjectRecordAsync(project, "fencing_token::text"));
        // The newest holder, or a rerun under a newer token, finds it and leaves it alone.
        var rerun = await Databases(projects, TimeSpan.Zero).ProvisionAsync(project, await TokenAsync(locks, project), CancellationToken.None);
        Assert.False(rerun.Created);
        Assert.Equal(newer.ToString(), await ProjectRecordAsync(project, "fencing_token::text"));
    }

    /// <summary>A real fencing token of <c>db:{projectId}</c>: taken and released, so the next one is greater.</summary>
    private static async Task<long> TokenAsync(IDistributedLock locks, string project)
    {
        await using var held = await locks.TryAcquireAsync($"db:{project}", TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5));
        return await held!.GetFencingTokenAsync();
    }

    private async Task WaitForTemporaryDatabaseAsync(string project) =>
        await JobQueueTests.WaitUntilAsync(async () => (await DatabasesOfAsync(project)).Any(name => name.Contains("_t")),
            TimeSpan.FromSeconds(15), "the stale holder's temporary database");

    private async Task<List<string>> DatabasesOfAsync(string project)
    {
        await using var connection = new NpgsqlConnection(postgres.Server!.ConnectionString());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY datname", connection);
        command.Parameters.AddWithValue($"project_{project}%");
        var names = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            names.Add(reader.GetString(0));
        }
        return names;
    }

    private async Task<string?> ProjectRecordAsync(string project, string column)
    {
        await using var connection = new NpgsqlConnection(postgres.Server!.ConnectionString(PostgresProjectDatabases.DatabaseName(project)) + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT {column} FROM project", connection);
        return (string?)await command.ExecuteScalarAsync();
    }
}
