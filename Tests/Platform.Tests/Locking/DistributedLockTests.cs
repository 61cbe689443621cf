using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Platform.Locking;
using Platform.Tests.Redis;
using StackExchange.Redis;

namespace Platform.Tests.Locking;

[Collection(RedisCollection.Name)]
public sealed class DistributedLockOnRedisServer(RedisServerFixture redis) : DistributedLockTests(redis);

[Collection(GarnetCollection.Name)]
public sealed class DistributedLockOnGarnet(GarnetServerFixture garnet) : DistributedLockTests(garnet);

[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class DistributedLockOnCluster(RedisClusterFixture cluster) : DistributedLockTests(cluster);

public abstract class DistributedLockTests(RedisServerFixture redis)
{
    private readonly string _name = $"test-{Guid.NewGuid():N}";

    private static RedisDistributedLock Locks(IConnectionMultiplexer connection) =>
        new(connection, TestMeters.Factory, NullLogger<RedisDistributedLock>.Instance);

    [Fact]
    public async Task HundredContendersOverFourConnectionsAndASecondProcessNeverHoldAtOnceAndFencesOnlyGrow()
    {
        await using var connections = await redis.ConnectManyAsync(4);
        var locks = connections.Select(Locks).ToArray();
        var db = redis.Connection.GetDatabase();
        var overlaps = 0;
        var fences = new List<long>();
        var duration = TimeSpan.FromSeconds(10);
        using var other = HarnessProcess.Start("lock-holder", "contend", redis.ConnectionString, _name, duration.TotalSeconds.ToString());
        var stopAt = Stopwatch.StartNew();

        await Task.WhenAll(Enumerable.Range(0, 100).Select(i => Task.Run(async () =>
        {
            while (stopAt.Elapsed < duration)
            {
                await using var handle = await locks[i % 4].TryAcquireAsync(_name, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2));
                if (handle is null)
                {
                    continue;
                }
                // One counter in Redis, shared with the other process: above 1 means two holders at once.
                if (await db.StringIncrementAsync($"{_name}:inside") > 1)
                {
                    Interlocked.Increment(ref overlaps);
                }
                fences.Add(await handle.GetFencingTokenAsync()); // safe: only the holder writes
                await db.StringDecrementAsync($"{_name}:inside");
            }
        })));
        var report = (await other.ReadLineAsync(TimeSpan.FromSeconds(30))).Split(' ');

        Assert.Equal(0, overlaps);
        Assert.Equal(["DONE", "0", "True"], [report[0], report[2], report[3]]);
        Assert.True(long.Parse(report[1]) > 0, "the second process never got the lock");
        Assert.True(fences.Count > 100, $"only {fences.Count} acquisitions in {duration}");
        Assert.Equal(fences.Order(), fences);
        Assert.Equal(fences.Count, fences.Distinct().Count());
    }

    [Fact]
    public async Task AKilledHoldersLockIsTakenAfterItsLeaseAndNotBefore()
    {
        // 3 s, renewed every second: a holder process that a busy machine pauses for half a second still renews in time.
        var lease = TimeSpan.FromSeconds(3);
        using var holder = HarnessProcess.Start("lock-holder", "hold", redis.ConnectionString, _name, ((long)lease.TotalMilliseconds).ToString());
        var held = await holder.ReadLineAsync(TimeSpan.FromSeconds(30));
        Assert.StartsWith("HELD ", held);
        await Task.Delay(lease); // the holder keeps it past one lease by renewing

        holder.Kill();
        var killed = Stopwatch.StartNew();
        var locks = Locks(redis.Connection);
        Assert.Null(await locks.TryAcquireAsync(_name, lease, TimeSpan.Zero));
        await using var next = await locks.TryAcquireAsync(_name, lease, TimeSpan.FromSeconds(10));

        Assert.NotNull(next);
        // Renewed about lease/3 before the kill, so free between 2/3 of a lease and a lease after it; the bounds leave a
        // busy machine room (a late renewal, a late recheck) and still tell a lease waited out from none or from ten seconds.
        Assert.InRange(killed.Elapsed, lease / 3, lease + TimeSpan.FromSeconds(3));
        Assert.True(await next.GetFencingTokenAsync() > long.Parse(held["HELD ".Length..]));
    }

    [Fact]
    public async Task AHeldLockRenewsItselfBeyondItsLeaseAndAWaiterWakesAtRelease()
    {
        var locks = Locks(redis.Connection);
        // A 2 s lease renewed every 667 ms. Shorter leases failed on Garnet in CI, where test host, servers and
        // the build share 2 cores and a stall of a second lets a lease lapse: a lease must outlast the longest pause.
        var holder = (await locks.TryAcquireAsync(_name, TimeSpan.FromSeconds(2), TimeSpan.Zero))!;

        await Task.Delay(4500); // over two leases: only renewal keeps it
        Assert.Null(await locks.TryAcquireAsync(_name, TimeSpan.FromSeconds(1), TimeSpan.Zero));
        Assert.False(holder.LockLost.IsCancellationRequested);
        var holderFence = await holder.GetFencingTokenAsync();

        // The waiter's lease is long: a waiter that missed the release message would find the lock free only on its
        // own recheck, a third of its lease (10 s) later, which the bound below tells from a wake-up however busy the
        // machine is (a 1 s lease rechecked every 333 ms, and a 500 ms bound could neither tell them apart nor bear CI).
        var waiter = locks.TryAcquireAsync(_name, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(20));
        await Task.Delay(200);
        var released = Stopwatch.StartNew();
        await holder.DisposeAsync();
        await using var next = await waiter;

        Assert.NotNull(next);
        Assert.True(released.Elapsed < TimeSpan.FromSeconds(5), $"the waiter took {released.Elapsed.TotalMilliseconds} ms after release");
        Assert.True(await next.GetFencingTokenAsync() > holderFence);
    }

    [Fact]
    public async Task APausedHolderSeesLockLostAndItsLateFencedWriteIsRejected()
    {
        var locks = Locks(redis.Connection);
        var resource = new FencedResource(redis.Connection);
        var key = $"resource:{_name}";
        // A lease long enough for the token's round trip on a loaded machine; the next holder rechecks every 5 s / 3.
        var paused = (LockHandle)(await locks.TryAcquireAsync(_name, TimeSpan.FromSeconds(1), TimeSpan.Zero))!;
        var pausedFence = await paused.GetFencingTokenAsync();
        Assert.True(await resource.TryWriteAsync(key, pausedFence, "first holder"));

        paused.SimulatePause();
        await using var next = await locks.TryAcquireAsync(_name, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
        Assert.NotNull(next);
        Assert.True(await resource.TryWriteAsync(key, await next.GetFencingTokenAsync(), "second holder"));

        await Task.Delay(500);
        Assert.True(paused.LockLost.IsCancellationRequested);
        await Assert.ThrowsAsync<LockLostException>(paused.GetFencingTokenAsync);
        Assert.False(await resource.TryWriteAsync(key, pausedFence, "late write"));
        Assert.Equal("second holder", await resource.ReadAsync(key));
        await paused.DisposeAsync(); // a stale release deletes nothing
        Assert.Null(await locks.TryAcquireAsync(_name, TimeSpan.FromSeconds(1), TimeSpan.Zero));
    }

    [Fact, SingleServer("the stalling proxy stands in front of one server; a cluster client follows the nodes' own addresses")]
    public async Task AHolderWhoseLinkStallsLosesTheLockBeforeTheServerLetsItGoAndItsDisposeDoesNotThrow()
    {
        await using var proxy = StallingProxy.Start(redis.Server);
        // The command timeout is well below the lease, and long enough that a loaded machine does not time out a healthy call.
        await using var stalling = await proxy.ConnectAsync(timeoutMs: 1000);
        var lease = TimeSpan.FromSeconds(3);
        var clock = Stopwatch.StartNew();
        var first = await Locks(stalling).TryAcquireAsync(_name, lease, TimeSpan.Zero);
        Assert.NotNull(first);
        // Holders at work, counted in this process: above 1 means two holders at once.
        var inside = 1;
        var overlaps = 0;
        var lostAt = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        first.LockLost.Register(() =>
        {
            Interlocked.Decrement(ref inside);
            lostAt.TrySetResult(clock.Elapsed);
        });
        await Task.Delay(lease); // renewed past one lease
        Assert.False(first.LockLost.IsCancellationRequested);

        // From here the holder's renewals time out (a TimeoutException, not a RedisException) and never reach Redis.
        proxy.Stall();
        var stalledAt = clock.Elapsed;
        await using var second = await Locks(redis.Connection).TryAcquireAsync(_name, lease, TimeSpan.FromSeconds(15));
        Assert.NotNull(second);
        var acquiredAt = clock.Elapsed;
        if (Interlocked.Increment(ref inside) > 1)
        {
            overlaps++;
        }

        Assert.Equal(0, overlaps);
        var lost = await lostAt.Task.WaitAsync(TimeSpan.FromSeconds(1));
        Assert.True(lost < acquiredAt, $"LockLost at {lost.TotalMilliseconds} ms, the next holder got the lock at {acquiredAt.TotalMilliseconds} ms");
        // The last renewal that succeeded was sent before the stall: its lease ends at most a lease after it.
        Assert.True(lost <= stalledAt + lease, $"LockLost {(lost - stalledAt).TotalMilliseconds} ms after the stall, lease {lease.TotalMilliseconds} ms");

        var disposing = Stopwatch.StartNew();
        await first.DisposeAsync(); // the release times out: logged, not thrown
        Assert.True(disposing.Elapsed < TimeSpan.FromSeconds(5), $"dispose took {disposing.Elapsed}");
        Assert.True(await redis.Connection.GetDatabase().KeyExistsAsync($"lock:{{{_name}}}"), "the stalled release deleted the next holder's lock");
        proxy.Resume();
    }

    [Fact]
    public async Task AHolderThatLostTheLockGetsLockLostNotAFencingToken()
    {
        var locks = Locks(redis.Connection);
        var db = redis.Connection.GetDatabase();
        await using var first = await locks.TryAcquireAsync(_name, TimeSpan.FromSeconds(10), TimeSpan.Zero);
        Assert.NotNull(first);
        // Its lease gone on the server (as after a failover, or an expiry its deadline did not see) and the lock taken.
        await db.KeyDeleteAsync($"lock:{{{_name}}}");
        await using var second = await locks.TryAcquireAsync(_name, TimeSpan.FromSeconds(10), TimeSpan.Zero);
        Assert.NotNull(second);
        var secondFence = await second.GetFencingTokenAsync();

        await Assert.ThrowsAsync<LockLostException>(first.GetFencingTokenAsync);

        Assert.True(first.LockLost.IsCancellationRequested);
        Assert.Equal(secondFence, (long)await db.StringGetAsync($"lock:{{{_name}}}:fence")); // no token issued to it
        Assert.Equal(secondFence, await second.GetFencingTokenAsync()); // one token per holding
    }

    [Fact]
    public async Task AStaleReleaseLeavesTheNextHoldersLeaseAsItWas()
    {
        var locks = Locks(redis.Connection);
        var stale = (LockHandle)(await locks.TryAcquireAsync(_name, TimeSpan.FromMilliseconds(300), TimeSpan.Zero))!;
        stale.SimulatePause();
        var lease = TimeSpan.FromSeconds(5);
        await using var next = await locks.TryAcquireAsync(_name, lease, TimeSpan.FromSeconds(2));
        Assert.NotNull(next);
        await Task.Delay(1000); // the next holder's lease runs down (renewed at a third of it, not yet)

        await stale.DisposeAsync(); // the holder that lost the lock releases it late

        var left = await redis.Connection.GetDatabase().KeyTimeToLiveAsync($"lock:{{{_name}}}");
        Assert.NotNull(left);
        // Untouched: a stale release neither deletes the next holder's lock nor gives it a fresh lease.
        Assert.True(left < lease - TimeSpan.FromMilliseconds(500), $"the next holder's lease was reset to {left}");
    }

    [Fact]
    public async Task AReleaseWithAnotherOwnersTokenDeletesNothing()
    {
        var locks = Locks(redis.Connection);
        await using var holder = await locks.TryAcquireAsync(_name, TimeSpan.FromSeconds(5), TimeSpan.Zero);

        var released = (long)await redis.Connection.GetDatabase().ScriptEvaluateAsync(
            RedisDistributedLock.Release.Source, [$"lock:{{{_name}}}"], ["not-the-owner", "lock:handoffs"]);

        Assert.Equal(0, released);
        Assert.True(await redis.Connection.GetDatabase().KeyExistsAsync($"lock:{{{_name}}}"));
        Assert.Null(await locks.TryAcquireAsync(_name, TimeSpan.FromSeconds(1), TimeSpan.Zero));
    }
}
