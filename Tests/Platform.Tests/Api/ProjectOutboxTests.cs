using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Api.Outbox;
using Platform.Jobs;
using Platform.Notifications;
using Platform.Sessions;
using Platform.Tests.Postgres;
using Platform.Tests.Redis;
using StackExchange.Redis;

namespace Platform.Tests.Api;

/// <summary>
/// Creating a project commits the row and the intent to enqueue its jobs and publish <c>project_created</c>
/// together (a transactional outbox). Each test has its own redis-server and its own store (a SQLite file, or a
/// database on the shared PostgreSQL server); a second host on the same store is the api restarted.
/// </summary>
public abstract class ProjectOutboxTests : IAsyncLifetime
{
    private RedisServerProcess _server = null!;
    private ConnectionMultiplexer _redis = null!;
    private string _database = null!;

    /// <summary>A new, empty projects store: its connection string (skips the test where the engine is missing).</summary>
    protected abstract Task<string> NewStoreAsync(string directory);

    public async Task InitializeAsync()
    {
        _server = await RedisServerProcess.StartNewAsync();
        _redis = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await _redis.DisposeAsync();
        await _server.DisposeAsync();
    }

    [SkippableFact]
    public async Task ACommitThatFailsEnqueuesNothingAndPublishesNothing()
    {
        _database = await NewStoreAsync(_server.Directory);
        await using (var api = await ApiHost.StartAsync(_server, _database))
        {
            var token = await api.SignInAsync("u-first");
            api.Fault.Armed = StoreFault.Point.Commit;
            using var failed = await api.CreateProjectAsync(token, "never committed");
            Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
            await Task.Delay(500);
            Assert.Equal((0L, 0L, 0), await SentAsync(api));
        }

        // After a restart, the next project (which takes the same id) gets its own jobs, addressed to its own owner.
        await using var restarted = await ApiHost.StartAsync(_server, _database);
        using var created = await restarted.CreateProjectAsync(await restarted.SignInAsync("u-second"), "committed");
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal((1L, 1L, 1), await SentAsync(restarted));
        Assert.Equal(["u-second@example.com"], await EmailRecipientsAsync());
    }

    [SkippableFact]
    public async Task AProcessKilledJustAfterTheCommitSendsTheJobsAndTheEventExactlyOnceAfterRestarts()
    {
        _database = await NewStoreAsync(_server.Directory);
        string projectId;
        await using (var api = await ApiHost.StartAsync(_server, _database))
        {
            var token = await api.SignInAsync("u-owner");
            api.Fault.Armed = StoreFault.Point.JustAfterCommit;
            using var killed = await api.CreateProjectAsync(token, "committed, then the process died");
            Assert.NotEqual(HttpStatusCode.Created, killed.StatusCode);
            // Committed, and nothing sent yet: everything waits in the outbox.
            Assert.Equal((0L, 0L, 0), await SentAsync(api));
            projectId = "1";
        }

        // The next start sends the first message, then dies before deleting it: it will be sent again.
        await using (var crashing = await ApiHost.StartAsync(_server, _database))
        {
            crashing.Fault.Armed = StoreFault.Point.OutboxDeletes;
            await WaitUntilAsync(async () => (await SentAsync(crashing)).Provision == 1, "the start-up pass sent nothing");
        }

        // The next start sends everything left, the first message again included: each still happened once.
        await using var restarted = await ApiHost.StartAsync(_server, _database);
        await WaitUntilAsync(async () => await SentAsync(restarted) == (1L, 1L, 1), "the start-up pass did not send the rest");
        using var another = await restarted.CreateProjectAsync(await restarted.SignInAsync("u-other"), "another");
        Assert.Equal(HttpStatusCode.Created, another.StatusCode);
        Assert.Equal((2L, 2L, 2), await SentAsync(restarted));
        var events = await new NotificationHistory(_redis).ReadChannelAsync(NotificationChannels.ProjectCreated);
        Assert.Equal([projectId, "2"], events.Select(e => e.ProjectId));
    }

    [SkippableFact]
    public async Task AMessageRedisRefusesForGoodIsParkedAndTheMessagesAfterItAreSent()
    {
        _database = await NewStoreAsync(_server.Directory);
        // A job for a queue this api does not serve: left by a replica of a newer version during a rolling upgrade, or
        // written before the queue was retired. The queue refuses it however often it is sent.
        string[] queues = ["deployment", "provision", "email", "reports"];
        long refused;
        await using (var api = await ApiHost.StartAsync(_server, _database))
        {
            refused = await api.AddOutboxMessageAsync(OutboxMessage.Job(new EnqueueRequest("reports", "monthly-report", "{}", IdempotencyKey: "monthly-report:2026-11")));
            var owner = await api.SignInAsync("u-owner");

            using var created = await api.CreateProjectAsync(owner, "after the refused message");

            // The messages after it were sent; it is parked, with its error, for an operator to see.
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            Assert.Equal((1L, 1L, 1), await SentAsync(api));
            var admin = await api.SignInAsync("u-admin", SessionRoles.Admin);
            var outbox = await GetOutboxAsync(api, admin);
            Assert.Equal((0, 1), (outbox.Pending, outbox.Parked));
            var parked = Assert.Single(outbox.ParkedMessages);
            Assert.Equal((refused, OutboxMessage.JobKind, 1), (parked.Id, parked.Kind, parked.Attempts));
            Assert.Contains("Unknown queue 'reports'", parked.LastError);

            // Later passes pass over it: the next project's messages are sent, and the parked one is not tried again.
            using var second = await api.CreateProjectAsync(owner, "second");
            Assert.Equal((2L, 2L, 2), await SentAsync(api));
            Assert.Equal(1, Assert.Single((await GetOutboxAsync(api, admin)).ParkedMessages).Attempts);

            // Only admins see the outbox; retrying while the cause remains parks it again with its second attempt.
            using (var asUser = await SendAsync(api, HttpMethod.Get, "/api/admin/outbox", owner))
            {
                Assert.Equal(HttpStatusCode.Forbidden, asUser.StatusCode);
            }
            Assert.Equal(new OutboxRetry(refused, "parked", parked.LastError), await RetryAsync(api, admin, refused));
            Assert.Equal(2, Assert.Single((await GetOutboxAsync(api, admin)).ParkedMessages).Attempts);
        }

        // The api of the version that serves the queue: its start-up pass leaves the parked message alone; retried, it is
        // sent, once, and gone from the outbox.
        await using var upgraded = await ApiHost.StartAsync(_server, _database, queues);
        var operatorToken = await upgraded.SignInAsync("u-admin", SessionRoles.Admin);
        Assert.Equal(1, (await GetOutboxAsync(upgraded, operatorToken)).Parked);
        Assert.Equal(0, (await upgraded.Jobs.GetCountsAsync("reports")).Ready);
        Assert.Equal(new OutboxRetry(refused, "sent", null), await RetryAsync(upgraded, operatorToken, refused));
        Assert.Equal(1, (await upgraded.Jobs.GetCountsAsync("reports")).Ready);
        var after = await GetOutboxAsync(upgraded, operatorToken);
        Assert.Equal((0, 0), (after.Pending, after.Parked));
        Assert.Empty(after.ParkedMessages);
        using var again = await SendAsync(upgraded, HttpMethod.Post, $"/api/admin/outbox/{refused}/retry", operatorToken);
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.Equal("application/problem+json", again.Content.Headers.ContentType?.MediaType);
        using var notAnId = await SendAsync(upgraded, HttpMethod.Post, "/api/admin/outbox/1x/retry", operatorToken);
        Assert.Equal(HttpStatusCode.NotFound, notAnId.StatusCode);
        Assert.Equal("application/problem+json", notAnId.Content.Headers.ContentType?.MediaType);
        // A message that waits to be sent (none of this host's passes has run since it was written) is not parked.
        var waiting = await upgraded.AddOutboxMessageAsync(OutboxMessage.Job(new EnqueueRequest("reports", "monthly-report", "{}", IdempotencyKey: "monthly-report:2026-12")));
        using var notParked = await SendAsync(upgraded, HttpMethod.Post, $"/api/admin/outbox/{waiting}/retry", operatorToken);
        Assert.Equal(HttpStatusCode.Conflict, notParked.StatusCode);
        Assert.Equal((1, 0), ((await GetOutboxAsync(upgraded, operatorToken)).Pending, (await GetOutboxAsync(upgraded, operatorToken)).Parked));
    }

    private static async Task<HttpResponseMessage> SendAsync(ApiHost api, HttpMethod method, string path, string token)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new("Bearer", token);
        return await api.Client.SendAsync(request);
    }

    private static async Task<OutboxState> GetOutboxAsync(ApiHost api, string token)
    {
        using var response = await SendAsync(api, HttpMethod.Get, "/api/admin/outbox", token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<OutboxState>())!;
    }

    private static async Task<OutboxRetry> RetryAsync(ApiHost api, string token, long id)
    {
        using var response = await SendAsync(api, HttpMethod.Post, $"/api/admin/outbox/{id}/retry", token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<OutboxRetry>())!;
    }

    /// <summary>Provision and email jobs queued, and project_created events published.</summary>
    private async Task<(long Provision, long Email, int Events)> SentAsync(ApiHost api) =>
        ((await api.Jobs.GetCountsAsync("provision")).Ready, (await api.Jobs.GetCountsAsync("email")).Ready,
         (await new NotificationHistory(_redis).ReadChannelAsync(NotificationChannels.ProjectCreated)).Count);

    private async Task<List<string>> EmailRecipientsAsync()
    {
        var db = _redis.GetDatabase();
        var recipients = new List<string>();
        foreach (var id in await db.SortedSetRangeByRankAsync("jobs:{email}:ready"))
        {
            var payload = (string)(await db.HashGetAsync($"jobs:{{email}}:job:{id}", "payload"))!;
            recipients.Add(JsonDocument.Parse(payload).RootElement.GetProperty("to").GetString()!);
        }
        return recipients;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string failure)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(50);
        }
    }
}

public sealed class ProjectOutboxTestsOnSqlite : ProjectOutboxTests
{
    protected override Task<string> NewStoreAsync(string directory) =>
        Task.FromResult($"Data Source={Path.Combine(directory, "projects.db")}");
}

[Collection(PostgresCollection.Name)]
public sealed class ProjectOutboxTestsOnPostgres(PostgresServerFixture postgres) : ProjectOutboxTests
{
    protected override async Task<string> NewStoreAsync(string directory)
    {
        Skip.If(postgres.Unavailable is not null, postgres.Unavailable);
        return postgres.Server!.ConnectionString(await postgres.Server.CreateDatabaseAsync("projects"));
    }
}
