using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Platform.Hosting;
using StackExchange.Redis;

namespace Platform.Jobs;

/// <summary>
/// How a running job's lease is kept. Every job this worker runs is registered here from the moment its claim
/// answers. Every third of the visibility timeout, one heartbeat.lua call renews the leases of all of them (500 per
/// call), each checked against its lease token; a renewal counts from when it was SENT. A job's
/// <see cref="RunningJob.Lost"/> fires when its renewal is refused (requeued, cancelled, gone), or by its own
/// <see cref="Platform.Redis.LeaseDeadline"/> when no renewal succeeded in time: a renewal that times out or meets an
/// outage changes nothing, and the deadline rings before the reaper may give the job to another worker.
/// </summary>
internal sealed class LeaseKeeper(ProcessorContext context)
{
    private const int PerCall = 500;
    private readonly ConcurrentDictionary<string, RunningJob> _running = new();

    public int Count => _running.Count;

    public ICollection<RunningJob> Jobs => _running.Values;

    /// <summary>The jobs a claim leased, each registered (so renewed) before it is returned.</summary>
    public RunningJob[] Register(ClaimCall.Reply reply)
    {
        var jobs = reply.Jobs();
        foreach (var job in jobs)
        {
            _running[job.Token] = job; // by lease token: the same job may come back to this worker after its lease was lost
        }
        return jobs;
    }

    public async ValueTask RemoveAsync(RunningJob job)
    {
        _running.TryRemove(job.Token, out _);
        await job.DisposeAsync();
    }

    public async Task RunAsync(CancellationToken stop)
    {
        // Renewals are housekeeping, not traced; a lease they lose shows on the job's span (lease_lost).
        using var quiet = Untraced.Begin();
        using var timer = new PeriodicTimer(context.Options.VisibilityTimeout / 3);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                foreach (var chunk in _running.Values.Where(j => !j.Lost.IsCancellationRequested).Chunk(PerCall))
                {
                    await RenewAsync(chunk, stop);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RenewAsync(RunningJob[] jobs, CancellationToken stop)
    {
        var sent = Stopwatch.GetTimestamp();
        try
        {
            var args = new RedisValue[2 + jobs.Length * 2];
            (args[0], args[1]) = (context.Keys.Prefix, context.LeaseMs);
            for (var i = 0; i < jobs.Length; i++)
            {
                (args[2 + 2 * i], args[3 + 2 * i]) = (jobs[i].Id, jobs[i].Token);
            }
            var renewed = (long[])(await JobQueue.Heartbeat.EvaluateAsync(context.Db, context.Keys.All, args))!;
            for (var i = 0; i < jobs.Length; i++)
            {
                if (renewed[i] == 1)
                {
                    jobs[i].Renewed(sent);
                }
                else
                {
                    context.Logger.LogWarning("Job {JobId} lost its lease (requeued or cancelled): stopping it", jobs[i].Id);
                    jobs[i].Lose();
                }
            }
        }
        catch (Exception e)
        {
            // A timeout, an outage, a call the client cancelled with its connection: the leases' deadlines decide; the
            // next tick tries again (or, stopping, none comes).
            context.MetOutage(e);
            context.Logger.LogWarning("Cannot renew leases on {Queue}: {Message}", context.Options.Queue, e.Message);
        }
    }
}
