namespace Platform.Locking;

/// <summary>
/// The lock is no longer held (its <see cref="ILockHandle.LockLost"/> has fired): thrown where a holder asks for
/// something only a holder gets, such as its fencing token. A cancellation by <see cref="ILockHandle.LockLost"/>, so
/// code that already stops on that token stops here too.
/// </summary>
public sealed class LockLostException(string name, CancellationToken lockLost)
    : OperationCanceledException($"The lock {name} is no longer held.", lockLost);
