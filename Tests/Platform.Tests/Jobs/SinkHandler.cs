using System.Globalization;
using Platform.Jobs;
using StackExchange.Redis;

namespace Platform.Tests.Jobs;

/// <summary>
/// A job handler for tests, shared with the harness's <c>job-worker</c> process: records each run in Redis (runs per
/// job, each run's start time on this machine's clock, the order runs started), works for a while, then adds the
/// job to an idempotent sink (a set), as a real handler makes its effect idempotent by job id.
/// </summary>
public sealed class SinkHandler(IConnectionMultiplexer redis, string sink, TimeSpan work) : IJobHandler
{
    public static string Runs(string sink) => $"sink:{{{sink}}}:runs";
    public static string Starts(string sink) => $"sink:{{{sink}}}:starts";
    public static string Order(string sink) => $"sink:{{{sink}}}:order";
    public static string Done(string sink) => $"sink:{{{sink}}}:done";

    public async Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var batch = db.CreateBatch();
        var recorded = Task.WhenAll(
            batch.HashIncrementAsync(Runs(sink), job.Id),
            batch.HashSetAsync(Starts(sink), $"{job.Id}#{job.Attempt}", now.ToString(CultureInfo.InvariantCulture)),
            batch.ListRightPushAsync(Order(sink), job.Id));
        batch.Execute();
        await recorded;
        if (work > TimeSpan.Zero)
        {
            await Task.Delay(work, cancellationToken);
        }
        await db.SetAddAsync(Done(sink), job.Id);
        return null;
    }
}
