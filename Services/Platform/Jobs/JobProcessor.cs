using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Platform.Jobs;

/// <summary>
/// Runs one queue's jobs in this process, up to <see cref="JobProcessorOptions.Concurrency"/> at once. Its parts, one
/// file each: <see cref="ClaimLoop"/> (claims for free slots, sleeps when idle), <see cref="JobRunner"/> and
/// <see cref="JobOutcomes"/> (run a job, record its outcome; a completion claims the next job in the same script),
/// <see cref="LeaseKeeper"/> (how a lease is kept), <see cref="Reaper"/> (recovers expired leases) and
/// <see cref="ProcessorShutdown"/> (the graceful stop).
/// Host-agnostic: <see cref="RunAsync"/> returns after a graceful stop (see <see cref="JobProcessorService"/>).
/// </summary>
public sealed class JobProcessor
{
    private readonly ProcessorContext _context;
    private readonly LeaseKeeper _leases;
    private readonly JobRunner _runner;

    public JobProcessor(JobQueue queue, IJobHandler handler, JobProcessorOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Concurrency, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.VisibilityTimeout, TimeSpan.FromMilliseconds(300));
        _context = new ProcessorContext(queue, options, logger);
        _leases = new LeaseKeeper(_context);
        _runner = new JobRunner(_context, _leases, handler);
    }

    /// <summary>Jobs running now.</summary>
    public int Running => _leases.Count;

    /// <summary>
    /// Claims and runs jobs until <paramref name="stoppingToken"/> fires; then claims no more, lets running jobs
    /// finish within <see cref="JobProcessorOptions.ShutdownGrace"/>, cancels the rest and releases them to other
    /// workers (their attempt not counted), and returns.
    /// </summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var subscriber = _context.Queue.Redis.GetSubscriber();
        var channel = RedisChannel.Literal(_context.Keys.Doorbell);
        await SubscribeAsync(subscriber, channel, stoppingToken);
        using var housekeeping = new CancellationTokenSource();
        var renewals = _leases.RunAsync(housekeeping.Token);
        var reaper = new Reaper(_context, JobQueue.NewTokenBase()).RunAsync(housekeeping.Token);
        var slots = new SemaphoreSlim(_context.Options.Concurrency, _context.Options.Concurrency);
        var tasks = new ConcurrentDictionary<Task, bool>();
        try
        {
            await new ClaimLoop(_context, _leases, _runner).RunAsync(slots, tasks, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            await subscriber.UnsubscribeAsync(channel).ContinueWith(_ => { }, TaskScheduler.Default);
            await new ProcessorShutdown(_context, _leases, _runner.Outcomes).DrainAsync(tasks.Keys.ToArray());
            await housekeeping.CancelAsync();
            await Task.WhenAll(renewals, reaper);
        }
    }

    private async Task SubscribeAsync(ISubscriber subscriber, RedisChannel channel, CancellationToken stoppingToken)
    {
        // StackExchange.Redis re-subscribes by itself after a reconnect; only the first subscribe needs Redis up.
        for (var delay = 100; ; delay = Math.Min(delay * 2, 2000))
        {
            try
            {
                await subscriber.SubscribeAsync(channel, (_, _) => _context.Doorbell.Writer.TryWrite(true));
                return;
            }
            catch (Exception e)
            {
                _context.Logger.Log(ProcessorContext.IsOutage(e) ? LogLevel.Warning : LogLevel.Error, e,
                    "Cannot subscribe to {Channel}: {Message}; retrying", _context.Keys.Doorbell, e.Message);
                await Task.Delay(delay, stoppingToken);
            }
        }
    }
}
