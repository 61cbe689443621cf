using Platform.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using Platform.Locking;
using StackExchange.Redis;

namespace Benchmarks;

/// <summary>
/// Not a benchmark: a second process for the lock tests in Platform.Tests, so that they contend across processes
/// and can kill a holder with SIGKILL.
///   lock-holder hold &lt;connection&gt; &lt;name&gt; &lt;lease ms&gt;       takes the lock, prints "HELD &lt;fence&gt;", holds until killed
///   lock-holder wait &lt;connection&gt; &lt;name&gt; &lt;lease ms&gt;       waits in line for the lock (up to a minute), then as hold
///   lock-holder contend &lt;connection&gt; &lt;name&gt; &lt;seconds&gt;     contends in a loop, counting overlaps in Redis,
///                                                        prints "DONE &lt;acquisitions&gt; &lt;overlaps&gt; &lt;fences increasing&gt;"
/// </summary>
public static class LockHolder
{
    public const string Name = "lock-holder";

    public static async Task<int> RunAsync(string[] args)
    {
        var (mode, connection, name, value) = (args[1], args[2], args[3], long.Parse(args[4]));
        await using var redis = await ConnectionMultiplexer.ConnectAsync(connection);
        var locks = new RedisDistributedLock(redis, TestMeters.Factory, NullLogger<RedisDistributedLock>.Instance);

        if (mode is "hold" or "wait")
        {
            var handle = await locks.TryAcquireAsync(name, TimeSpan.FromMilliseconds(value), TimeSpan.FromSeconds(mode == "hold" ? 30 : 60));
            Console.WriteLine(handle is null ? "REFUSED" : $"HELD {await handle.GetFencingTokenAsync()}");
            await Task.Delay(Timeout.Infinite);
        }

        var db = redis.GetDatabase();
        long acquisitions = 0, overlaps = 0, lastFence = 0;
        var increasing = true;
        var stopAt = DateTime.UtcNow.AddSeconds(value);
        while (DateTime.UtcNow < stopAt)
        {
            await using var handle = await locks.TryAcquireAsync(name, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2));
            if (handle is null)
            {
                continue;
            }
            acquisitions++;
            var fence = await handle.GetFencingTokenAsync();
            increasing &= fence > lastFence;
            lastFence = fence;
            if (await db.StringIncrementAsync($"{name}:inside") > 1)
            {
                overlaps++;
            }
            await db.StringDecrementAsync($"{name}:inside");
        }
        Console.WriteLine($"DONE {acquisitions} {overlaps} {increasing}");
        return 0;
    }
}
