using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Platform.Jobs;
using Platform.Tests;
using Platform.Tests.Jobs;
using StackExchange.Redis;

namespace Benchmarks;

/// <summary>
/// Not a benchmark: a worker process for the job tests in Platform.Tests, so that jobs run in two processes and one
/// can be killed with SIGKILL mid-job.
///   job-worker &lt;connection&gt; &lt;queue&gt; &lt;sink&gt; &lt;concurrency&gt; &lt;work ms&gt; &lt;visibility ms&gt; &lt;reap ms&gt;
/// runs <see cref="SinkHandler"/> on the queue, prints "READY", and on the line "STOP" stops gracefully and prints "STOPPED".
/// </summary>
public static class JobWorker
{
    public const string Name = "job-worker";

    public static async Task<int> RunAsync(string[] args)
    {
        var (connection, queue, sink) = (args[1], args[2], args[3]);
        var (concurrency, workMs, visibilityMs, reapMs) = (int.Parse(args[4]), int.Parse(args[5]), int.Parse(args[6]), int.Parse(args[7]));
        await using var redis = await ConnectionMultiplexer.ConnectAsync($"{connection},abortConnect=false");
        var jobs = new JobQueue(redis, Options.Create(new JobQueueOptions { Queues = [queue] }), new JobTelemetry(TestMeters.Factory));
        var processor = new JobProcessor(jobs, new SinkHandler(redis, sink, TimeSpan.FromMilliseconds(workMs)), new JobProcessorOptions
        {
            Queue = queue,
            Concurrency = concurrency,
            VisibilityTimeout = TimeSpan.FromMilliseconds(visibilityMs),
            ReapInterval = TimeSpan.FromMilliseconds(reapMs),
            IdlePoll = TimeSpan.FromMilliseconds(500),
        }, NullLogger.Instance);

        using var stop = new CancellationTokenSource();
        var run = processor.RunAsync(stop.Token);
        Console.WriteLine("READY");
        while (await Console.In.ReadLineAsync() is { } line && line != "STOP")
        {
        }
        await stop.CancelAsync();
        await run;
        Console.WriteLine("STOPPED");
        return 0;
    }
}
