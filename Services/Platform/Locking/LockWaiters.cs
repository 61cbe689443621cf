using System.Collections.Concurrent;
using StackExchange.Redis;

namespace Platform.Locking;

/// <summary>
/// This process's waiters, by owner token, woken by the hand-over messages of release.lua: one subscription for the
/// process, taken on the first wait; a message wakes only the waiter it names.
/// </summary>
internal sealed class LockWaiters(IConnectionMultiplexer redis)
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _byOwner = new();
    private readonly ConcurrentDictionary<string, int> _countByName = new();
    private readonly Lock _gate = new();
    private Task? _subscribed;

    /// <summary>Whether another waiter of this process is in line for <paramref name="name"/>: the lock is then most likely held.</summary>
    public bool AnyWaiting(string name) => _countByName.TryGetValue(name, out var count) && count > 0;

    /// <summary>Registers a waiter before it joins the line, so that a hand-over sent at once is not missed.</summary>
    public async Task<Waiter> JoinAsync(string name, string owner)
    {
        Task subscribed;
        lock (_gate)
        {
            // Again after a failure (Redis was down): a failed subscription is not kept.
            if (_subscribed is null || _subscribed.IsFaulted || _subscribed.IsCanceled)
            {
                _subscribed = redis.GetSubscriber().SubscribeAsync(RedisChannel.Literal(LockKeys.HandoffChannel), (_, message) => Deliver(message));
            }
            subscribed = _subscribed;
        }
        await subscribed;
        var waiter = new Waiter(this, name, owner);
        _countByName.AddOrUpdate(name, 1, (_, count) => count + 1);
        return waiter;
    }

    private void Deliver(RedisValue message)
    {
        if (_byOwner.TryGetValue((string)message!, out var handed))
        {
            handed.TrySetResult();
        }
    }

    private void Leave(string name, string owner)
    {
        _byOwner.TryRemove(owner, out _);
        _countByName.AddOrUpdate(name, 0, (_, count) => count - 1);
        _countByName.TryRemove(new KeyValuePair<string, int>(name, 0));
    }

    /// <summary>One waiter's registration: <see cref="Handed"/> completes when the lock is handed to it.</summary>
    public sealed class Waiter : IDisposable
    {
        private readonly LockWaiters _waiters;
        private readonly string _name;
        private readonly string _owner;
        private TaskCompletionSource _handed = null!;

        public Waiter(LockWaiters waiters, string name, string owner)
        {
            (_waiters, _name, _owner) = (waiters, name, owner);
            Rearm();
        }

        public Task Handed => _handed.Task;

        /// <summary>After a hand-over that came too late to use (its lease had run out): wait for the next one.</summary>
        public void Rearm()
        {
            _handed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters._byOwner[_owner] = _handed;
        }

        public void Dispose() => _waiters.Leave(_name, _owner);
    }
}
