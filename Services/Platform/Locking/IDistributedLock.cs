namespace Platform.Locking;

/// <summary>Distributed locks with renewal and fencing tokens.</summary>
public interface IDistributedLock
{
    /// <summary>
    /// Takes the lock <paramref name="name"/>, waiting up to <paramref name="wait"/> (zero: one try), or returns
    /// null. While held, the lease renews itself every lease/3; dispose the handle to release it.
    /// </summary>
    Task<ILockHandle?> TryAcquireAsync(string name, TimeSpan lease, TimeSpan wait, CancellationToken cancellationToken = default);

    /// <summary>
    /// One try, no waiting: the handle, or how long the current holder's lease has left, which is when to try again
    /// at the latest (for a caller that reschedules its work rather than wait, e.g. a job that must not hold a worker slot).
    /// </summary>
    Task<LockAttempt> TryAcquireOnceAsync(string name, TimeSpan lease, CancellationToken cancellationToken = default);
}

/// <summary>The answer of <see cref="IDistributedLock.TryAcquireOnceAsync"/>: <see cref="Handle"/> if taken, else the holder's lease left.</summary>
public sealed record LockAttempt(ILockHandle? Handle, TimeSpan HolderLeaseLeft);

/// <summary>
/// A held lock. Disposing releases it (once; a second dispose does nothing) and never throws: if the release fails,
/// it is logged and the lease runs out on the server.
/// </summary>
public interface ILockHandle : IAsyncDisposable
{
    string Name { get; }

    /// <summary>
    /// This holding's fencing token, strictly greater than every token issued before for this name: give it to the
    /// resource you protect. Issued on the first call (one round trip, only while the lock is still held), the same
    /// value after. Throws <see cref="LockLostException"/> if the lock was lost (and fires <see cref="LockLost"/>).
    /// </summary>
    Task<long> GetFencingTokenAsync();

    /// <summary>
    /// Fires when the lock is lost: a renewal was refused, or no renewal succeeded within a lease (less a margin of a
    /// tenth, at most 1 s) of the send of the last acquire or renewal that did, so before the server can give the
    /// lock to anyone else. Stop work.
    /// </summary>
    CancellationToken LockLost { get; }
}
