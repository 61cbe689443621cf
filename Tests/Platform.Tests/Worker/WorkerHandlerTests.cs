using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Platform.Jobs;
using Platform.Locking;
using Platform.Tests.Jobs;
using Platform.Tests.Redis;
using Worker;
using Worker.Handlers;

namespace Platform.Tests.Worker;

[Collection(RedisCollection.Name)]
public sealed class WorkerHandlersOnRedisServer(RedisServerFixture redis) : WorkerHandlerTests(redis);

[Collection(GarnetCollection.Name)]
public sealed class WorkerHandlersOnGarnet(GarnetServerFixture garnet) : WorkerHandlerTests(garnet);

[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class WorkerHandlersOnCluster(RedisClusterFixture cluster) : WorkerHandlerTests(cluster);

/// <summary>The worker's handlers run by a real processor on a real server, writing to a temporary folder.</summary>
public abstract class WorkerHandlerTests(RedisServerFixture redis) : IDisposable
{
    private readonly string _queue = $"q{Guid.NewGuid():N}";
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("worker-test-");

    private WorkerOptions Options() => new()
    {
        ProjectsDirectory = Path.Combine(_data.FullName, "projects"),
        MailDirectory = Path.Combine(_data.FullName, "mail"),
        ProvisionDuration = TimeSpan.FromMilliseconds(500),
        Deployment = new DeploymentSimulation { BuildDuration = TimeSpan.FromMilliseconds(300), DeployDuration = TimeSpan.FromMilliseconds(300) },
    };

    private RedisDistributedLock Locks() => new(redis.Connection, TestMeters.Factory, NullLogger<RedisDistributedLock>.Instance);

    private async Task<JobStatus[]> RunAsync(IJobHandler handler, int concurrency, params EnqueueRequest[] requests)
    {
        var jobs = JobQueueTests.Queue(redis.Connection, _queue);
        var ids = new List<string>();
        foreach (var request in requests)
        {
            ids.Add((await jobs.EnqueueAsync(request with { Queue = _queue })).JobId);
        }
        using var stop = new CancellationTokenSource();
        var processor = JobQueueTests.Processor(jobs, _queue, handler, concurrency).RunAsync(stop.Token);
        await JobQueueTests.WaitUntilAsync(async () => (await Task.WhenAll(ids.Select(jobs.GetAsync)))
            .All(s => s!.State is JobState.Completed or JobState.Failed or JobState.Dead), TimeSpan.FromSeconds(60), "every job to finish");
        await stop.CancelAsync();
        await processor;
        return (await Task.WhenAll(ids.Select(jobs.GetAsync)))!;
    }

    [Fact]
    public async Task TwoConcurrentProvisionJobsForOneProjectCreateTheDatabaseExactlyOnce()
    {
        var options = Options();
        var handler = new ProvisionHandler(Locks(), new SqliteProjectDatabases(Microsoft.Extensions.Options.Options.Create(options)), NullLogger<ProvisionHandler>.Instance);
        var project = Guid.NewGuid().ToString("N");
        var payload = $"{{\"projectId\":\"{project}\"}}";

        var statuses = await RunAsync(handler, concurrency: 2, new EnqueueRequest("", "provision", payload), new EnqueueRequest("", "provision", payload));

        Assert.All(statuses, s => Assert.Equal(JobState.Completed, s.State));
        // They overlapped: the second started before the first finished, and waited for the lock.
        Assert.True(statuses[1].StartedAt < statuses[0].FinishedAt, "the two jobs did not run at the same time");
        Assert.Equal(["\"created\":false", "\"created\":true"], statuses.Select(s => s.Result![1..^1].Split(',')[0]).Order());
        var path = SqliteProjectDatabases.DatabasePath(options, project);
        Assert.Equal([path], Directory.GetFiles(options.ProjectsDirectory)); // no temporary file left behind
        await using var db = new SqliteConnection($"Data Source={path};Pooling=false");
        await db.OpenAsync();
        await using var query = db.CreateCommand();
        query.CommandText = "SELECT id FROM project";
        Assert.Equal(project, (string?)await query.ExecuteScalarAsync());
    }

    [Fact]
    public async Task ADeploymentReportsEachStepHoldingItsProjectLockAndAFailingBuildIsNotRetried()
    {
        var publisher = new RecordingPublisher();
        var handler = new DeploymentHandler(Locks(), publisher, Microsoft.Extensions.Options.Options.Create(Options()), NullLogger<DeploymentHandler>.Instance);
        var project = Guid.NewGuid().ToString("N");
        string Deploy(string id, string branch) =>
            $"{{\"projectId\":\"{project}\",\"deploymentId\":\"{id}\",\"branch\":\"{branch}\",\"environment\":\"production\"}}";

        var statuses = await RunAsync(handler, concurrency: 4,
            new EnqueueRequest("", "deployment", Deploy("d1", "main")),
            new EnqueueRequest("", "deployment", Deploy("d2", "main")),
            new EnqueueRequest("", "deployment", Deploy("d3", "fail/broken")));

        Assert.Equal([JobState.Completed, JobState.Completed, JobState.Failed], statuses.Select(s => s.State));
        Assert.Equal(1, statuses[2].Attempts);
        var events = publisher.Events.ToArray();
        Assert.All(events, e => Assert.Equal(project, e.ProjectId));
        Assert.Equal(["queued", "building", "deploying", "succeeded"], events.Where(e => e.DeploymentId == "d1").Select(e => e.Status));
        Assert.Equal(["queued", "building", "failed"], events.Where(e => e.DeploymentId == "d3").Select(e => e.Status));
        Assert.Equal(statuses[0].Id, events.First(e => e.DeploymentId == "d1").JobId);
        // One deployment of the project at a time: between a building and its end, no other deployment builds.
        var held = events.Where(e => e.Status != "queued").ToArray();
        for (var i = 0; i < held.Length; i++)
        {
            if (held[i].Status == "building")
            {
                var end = Array.FindIndex(held, i, e => e.DeploymentId == held[i].DeploymentId && e.Status is "succeeded" or "failed");
                Assert.All(held[(i + 1)..end], e => Assert.Equal(held[i].DeploymentId, e.DeploymentId));
            }
        }
    }

    [Fact]
    public async Task WithRetryFailedBuildsAFailingBuildIsRetriedUntilItIsDeadLettered()
    {
        var publisher = new RecordingPublisher();
        var options = Options();
        options.Deployment.RetryFailedBuilds = true;
        var handler = new DeploymentHandler(Locks(), publisher, Microsoft.Extensions.Options.Options.Create(options), NullLogger<DeploymentHandler>.Instance);
        var payload = $"{{\"projectId\":\"{Guid.NewGuid():N}\",\"deploymentId\":\"d1\",\"branch\":\"fail/flaky\",\"environment\":\"staging\"}}";

        var status = (await RunAsync(handler, concurrency: 1, new EnqueueRequest("", "deployment", payload, MaxAttempts: 2))).Single();

        Assert.Equal((JobState.Dead, 2), (status.State, status.Attempts));
        Assert.Equal("DeploymentBuildFailedException: The build of fail/flaky failed (simulated, attempt 2 of 2).", status.Error);
        Assert.Equal(["queued", "building", "failed", "queued", "building", "failed"], publisher.Events.Select(e => e.Status));
    }

    [Fact]
    public async Task FourQueuedDeploymentsOfOneProjectOnFourSlotsDoNotHoldUpAnotherProjectsDeployment()
    {
        var publisher = new RecordingPublisher();
        var options = Options();
        options.Deployment.BuildDuration = options.Deployment.DeployDuration = TimeSpan.FromSeconds(1);
        options.Deployment.LockRetry = TimeSpan.FromMilliseconds(200);
        var handler = new DeploymentHandler(Locks(), publisher, Microsoft.Extensions.Options.Options.Create(options), NullLogger<DeploymentHandler>.Instance);
        var (busy, other) = (Guid.NewGuid().ToString("N"), Guid.NewGuid().ToString("N"));
        EnqueueRequest Deploy(string project, string id) => new("", "deployment",
            $"{{\"projectId\":\"{project}\",\"deploymentId\":\"{id}\",\"branch\":\"main\",\"environment\":\"staging\"}}");

        var statuses = await RunAsync(handler, concurrency: 4,
            Deploy(busy, "b1"), Deploy(busy, "b2"), Deploy(busy, "b3"), Deploy(busy, "b4"), Deploy(other, "o1"));

        // Each waiting deployment went back to the queue (its attempt not counted) instead of holding a slot.
        Assert.All(statuses, s => Assert.Equal((JobState.Completed, 1), (s.State, s.Attempts)));
        var events = publisher.Events.ToArray();
        var otherBuilds = Array.FindIndex(events, e => e.DeploymentId == "o1" && e.Status == "building");
        var firstOfBusyEnds = Array.FindIndex(events, e => e.ProjectId == busy && e.Status == "succeeded");
        Assert.True(otherBuilds >= 0 && otherBuilds < firstOfBusyEnds,
            $"the other project's deployment started building at event {otherBuilds}, after the busy project's first ended at {firstOfBusyEnds}");
        Assert.All(events.GroupBy(e => (e.DeploymentId, e.Status)), g => Assert.Single(g)); // "queued" once, however often deferred
        var held = events.Where(e => e.ProjectId == busy && e.Status != "queued").ToArray();
        for (var i = 0; i < held.Length; i++)
        {
            if (held[i].Status == "building")
            {
                var end = Array.FindIndex(held, i, e => e.DeploymentId == held[i].DeploymentId && e.Status is "succeeded" or "failed");
                Assert.All(held[(i + 1)..end], e => Assert.Equal(held[i].DeploymentId, e.DeploymentId));
            }
        }
    }

    [Fact]
    public async Task AnEmailIsWrittenToTheMailSinkAndABadAddressFailsWithoutRetry()
    {
        var options = Options();
        var handler = new EmailHandler(Microsoft.Extensions.Options.Options.Create(options), NullLogger<EmailHandler>.Instance);

        var statuses = await RunAsync(handler, concurrency: 2,
            new EnqueueRequest("", "email", "{\"to\":\"ada@example.com\",\"subject\":\"Welcome\",\"body\":\"Your project is ready.\"}"),
            new EnqueueRequest("", "email", "{\"to\":\"not an address\",\"subject\":\"x\",\"body\":\"y\"}"));

        Assert.Equal([JobState.Completed, JobState.Failed], statuses.Select(s => s.State));
        var message = await File.ReadAllTextAsync(Path.Combine(options.MailDirectory, $"{statuses[0].Id}.eml"));
        Assert.Contains("To: ada@example.com\r\n", message);
        Assert.Contains("Subject: Welcome\r\n", message);
        Assert.EndsWith("\r\n\r\nYour project is ready.", message);
        Assert.Single(Directory.GetFiles(options.MailDirectory));
    }

    public void Dispose() => _data.Delete(recursive: true);

    private sealed class RecordingPublisher : IDeploymentStatusPublisher
    {
        public ConcurrentQueue<DeploymentStatus> Events { get; } = new();

        public Task PublishAsync(DeploymentStatus status, CancellationToken cancellationToken)
        {
            Events.Enqueue(status);
            return Task.CompletedTask;
        }
    }
}
