namespace Platform.Locking;

/// <summary>The one place that names lock keys; everything of one lock shares its hash tag.</summary>
internal static class LockKeys
{
    /// <summary>The holder's entry and, behind it, the waiters' line (layout: enqueue.lua, README "Distributed locks").</summary>
    public static string Lock(string name) => $"lock:{{{name}}}";
    public static string Fence(string name) => $"lock:{{{name}}}:fence";

    /// <summary>
    /// Where a release announces a hand-over (the next owner's token): one channel for all locks, so a process
    /// subscribes once, not per wait. Owner tokens are random, so the message reaches exactly one waiter.
    /// </summary>
    public const string HandoffChannel = "lock:handoffs";
}
