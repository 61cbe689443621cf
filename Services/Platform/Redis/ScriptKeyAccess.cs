namespace Platform.Redis;

/// <summary>Which keys a <see cref="RedisScript"/> touches: what decides whether it may run while its cluster slot migrates.</summary>
public enum ScriptKeyAccess
{
    /// <summary>
    /// Also keys built inside the script from a name in ARGV (a job's hash from the queue's prefix, a user's session
    /// hashes from their index). Redis Cluster checks only KEYS before it runs a script, so while the slot migrates such
    /// a script could run on the node that holds KEYS but not those keys: half-way through it fails on the source ("Script
    /// attempted to access a non local key"), its earlier writes kept; on the target it reads them as missing. Such a
    /// script gets <see cref="MigrationGuard"/>'s key added to KEYS, so Redis refuses it (TRYAGAIN) before it runs.
    /// The default: a script that forgets to say is safe, only unavailable during a migration.
    /// </summary>
    ReachedByName,

    /// <summary>
    /// Only KEYS. Redis itself keeps such a script whole during a migration: it runs where all its keys are, and is
    /// refused with TRYAGAIN while they are split or some are missing. A single-key script (a rate-limit window) runs
    /// throughout a migration, on whichever node has its key.
    /// </summary>
    DeclaredOnly,
}
