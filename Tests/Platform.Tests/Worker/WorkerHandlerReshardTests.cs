using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Platform.Jobs;
using Platform.Locking;
using Platform.Tests.Jobs;
using Platform.Tests.Redis;
using Worker;
using Worker.Handlers;
using Xunit.Abstractions;

namespace Platform.Tests.Worker;

/// <summary>
/// The deployment handler, whole, while the slots of its queue and of one project's lock move to other masters
/// (<see cref="SlotMigration"/>, slowly, both at once): the building blocks' own reshard tests compose here. The counts
/// go to the test output.
/// </summary>
[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class WorkerHandlerReshardTests(RedisClusterFixture cluster, ITestOutputHelper output)
{
    private const int Projects = 3;
    private const int DeploymentsPerProject = 12;

    [Fact]
    public async Task DeploymentsWhileTheirQueueAndProjectLockMoveEachSucceedOnceAndOnePerProjectAtATime()
    {
        var connection = cluster.Connection;
        var queue = $"q{Guid.NewGuid():N}";
        var jobs = JobQueueTests.Queue(connection, queue);
        var publisher = new TimedPublisher();
        var handler = new DeploymentHandler(new RedisDistributedLock(connection, TestMeters.Factory, NullLogger<RedisDistributedLock>.Instance),
            publisher, Microsoft.Extensions.Options.Options.Create(new WorkerOptions
            {
                Deployment = new DeploymentSimulation
                {
                    BuildDuration = TimeSpan.FromMilliseconds(150),
                    DeployDuration = TimeSpan.FromMilliseconds(150),
                    LockRetry = TimeSpan.FromMilliseconds(100),
                },
            }), NullLogger<DeploymentHandler>.Instance);
        var projects = Enumerable.Range(0, Projects).Select(_ => Guid.NewGuid().ToString("N")).ToArray();
        var ids = new List<string>();
        for (var d = 0; d < DeploymentsPerProject; d++)
        {
            foreach (var project in projects)
            {
                ids.Add((await jobs.EnqueueAsync(new EnqueueRequest(queue, "deployment",
                    $"{{\"projectId\":\"{project}\",\"deploymentId\":\"{project}-{d}\",\"branch\":\"main\",\"environment\":\"staging\"}}"))).JobId);
            }
        }

        // The lock's slot holds little more than the lock itself: filled, it takes seconds to move, as the queue's does.
        await SlotMigration.FillAsync(connection, $"deploy:{projects[0]}", 80);

        using var worker = new ReshardTraffic();
        using var stop = new CancellationTokenSource();
        var processor = new JobProcessor(jobs, handler, new JobProcessorOptions
        {
            Queue = queue,
            Concurrency = 4,
            VisibilityTimeout = TimeSpan.FromSeconds(30),
            ReapInterval = TimeSpan.FromMilliseconds(500),
            IdlePoll = TimeSpan.FromMilliseconds(200),
            ShutdownGrace = TimeSpan.FromSeconds(10),
            DepthSampleInterval = TimeSpan.FromMilliseconds(500),
        }, worker).RunAsync(stop.Token);
        await JobQueueTests.WaitUntilAsync(() => Task.FromResult(publisher.Events.Any(e => e.Status.Status == "building")),
            TimeSpan.FromSeconds(30), "a first deployment to build");

        var queueSlot = SlotMigration.SlotOf(connection, $"jobs:{{{queue}}}:ready");
        var lockSlot = SlotMigration.SlotOf(connection, LockKeys.Lock($"deploy:{projects[0]}"));
        var moves = new[] { queueSlot, lockSlot }.Distinct()
            .Select(slot => SlotMigration.MoveAsync(cluster.Cluster, slot, batchSize: 1, pause: TimeSpan.FromMilliseconds(50))).ToArray();
        var migrations = await Task.WhenAll(moves);

        var clock = Stopwatch.StartNew();
        await JobQueueTests.WaitUntilAsync(async () => (await Task.WhenAll(ids.Select(jobs.GetAsync)))
            .All(s => s!.State is JobState.Completed or JobState.Failed or JobState.Dead), TimeSpan.FromSeconds(90), "every deployment to finish");
        await stop.CancelAsync();
        await processor;
        var statuses = (await Task.WhenAll(ids.Select(jobs.GetAsync)))!;
        var events = publisher.Events.ToArray();

        foreach (var migration in migrations)
        {
            output.WriteLine(migration.ToString());
        }
        output.WriteLine($"queue slot {queueSlot}, lock slot of project 0 {lockSlot}; all finished {clock.Elapsed.TotalSeconds:F1} s after the moves");
        output.WriteLine($"worker: {worker.Resends} script resends after TRYAGAIN; its log: {worker.Errors}");
        output.WriteLine($"builds started {events.Count(e => e.Status.Status == "building")} for {ids.Count} deployments; " +
            $"attempts counted {statuses.Sum(s => s!.Attempts)}");

        Assert.Empty(worker.NotOutages);
        Assert.All(statuses, s => Assert.Equal(JobState.Completed, s!.State));
        // Each deployment succeeded once, and reported queued once (deferrals do not report it again).
        Assert.All(events.GroupBy(e => e.Status.DeploymentId), deployment =>
        {
            Assert.Equal(1, deployment.Count(e => e.Status.Status == "succeeded"));
            Assert.Equal(1, deployment.Count(e => e.Status.Status == "queued"));
        });
        Assert.Equal(ids.Count, events.Select(e => e.Status.DeploymentId).Distinct().Count());
        // One deployment of a project at a time, through the moves: each build (building to its succeeded) of a project
        // lies wholly before or after every other build of it.
        foreach (var project in events.GroupBy(e => e.Status.ProjectId))
        {
            var builds = project.GroupBy(e => e.Status.DeploymentId).Select(d => (
                Start: d.Single(e => e.Status.Status == "building").At,
                End: d.Single(e => e.Status.Status == "succeeded").At)).OrderBy(b => b.Start).ToArray();
            Assert.All(builds.Zip(builds.Skip(1)), pair => Assert.True(pair.First.End <= pair.Second.Start,
                $"project {project.Key}: a build started at {pair.Second.Start} before the one before it ended at {pair.First.End}"));
        }
    }

    /// <summary>Each reported status with the moment it was reported (the machine's monotonic clock).</summary>
    private sealed class TimedPublisher : IDeploymentStatusPublisher
    {
        public ConcurrentQueue<(DeploymentStatus Status, long At)> Events { get; } = new();

        public Task PublishAsync(DeploymentStatus status, CancellationToken cancellationToken)
        {
            Events.Enqueue((status, Stopwatch.GetTimestamp()));
            return Task.CompletedTask;
        }
    }
}
