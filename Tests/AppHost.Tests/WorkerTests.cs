using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Platform.Jobs;
using StackExchange.Redis;

namespace AppHost.Tests;

[Collection(SystemCollection.Name)]
public sealed class WorkerTests(DistributedAppFixture system)
{
    private static readonly IMeterFactory Meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();

    [Fact]
    public async Task TheWorkerRunsAJobEnqueuedInRedisAndItsDashboardCommandsAnswer()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync((await system.App.GetConnectionStringAsync("redis"))!);
        var jobs = new JobQueue(redis, Options.Create(new JobQueueOptions { Queues = ["deployment", "provision", "email"] }), new JobTelemetry(Meters));

        var id = (await jobs.EnqueueAsync(new EnqueueRequest("email", "welcome",
            "{\"to\":\"ada@example.com\",\"subject\":\"Welcome\",\"body\":\"Hello from the worker test.\"}"))).JobId;
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while ((await jobs.GetAsync(id))!.State != JobState.Completed)
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30), $"job {id} is still {(await jobs.GetAsync(id))!.State} after 30 s");
            await Task.Delay(100);
        }

        var commands = system.App.Services.GetRequiredService<ResourceCommandService>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var counts = await commands.ExecuteCommandAsync("worker", "queue-counts", timeout.Token);
        Assert.True(counts.Success, counts.Message);
        Assert.Contains("\"queue\":\"email\"", counts.Data?.Value);
        var retried = await commands.ExecuteCommandAsync("worker", "retry-dead-jobs", timeout.Token);
        Assert.True(retried.Success, retried.Message);
        Assert.Contains("\"provision\":", retried.Data?.Value);
    }
}
