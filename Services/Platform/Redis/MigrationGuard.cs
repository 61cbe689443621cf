using StackExchange.Redis;

namespace Platform.Redis;

/// <summary>
/// A key that is never written, in the slot of a script's first key, added to the KEYS of scripts that reach other keys
/// by name (<see cref="ScriptKeyAccess.ReachedByName"/>). Outside a migration it changes nothing (a missing key is just
/// missing). While the slot migrates, Redis answers a command with several keys, some missing, with TRYAGAIN, on the
/// source and on the target alike (on the source: ASK when none is there, and the target then refuses): the guard is
/// always missing, so such a script never runs while its slot is split between two nodes. TRYAGAIN means it did not
/// run: it is safe to send again (see <see cref="RedisScript"/>). Scripts index KEYS from 1 and never read past their
/// own: the guard is last.
/// </summary>
public static class MigrationGuard
{
    /// <summary><paramref name="keys"/> followed by the guard of the first key's slot: <c>{tag}:migration-guard</c>.</summary>
    public static RedisKey[] Append(RedisKey[] keys)
    {
        if (keys.Length == 0)
        {
            return keys;
        }
        var tag = HashTag(keys[0]!);
        if (tag.Contains('}'))
        {
            // Hashed whole (no tag) and holding a '}': no key written as {tag}... can land in its slot.
            throw new ArgumentException(
                $"The first key of a script that reaches keys by name needs a hash tag ({{...}}): '{keys[0]}' has none.", nameof(keys));
        }
        return [.. keys, $"{{{tag}}}:migration-guard"];
    }

    /// <summary>What Redis Cluster hashes: the text between the first '{' and the next '}' if not empty, else the whole key.</summary>
    public static string HashTag(string key)
    {
        var open = key.IndexOf('{');
        if (open >= 0)
        {
            var close = key.IndexOf('}', open + 1);
            if (close > open + 1)
            {
                return key[(open + 1)..close];
            }
        }
        return key;
    }
}
