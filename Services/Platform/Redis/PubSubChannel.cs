using StackExchange.Redis;

namespace Platform.Redis;

/// <summary>
/// Which pub/sub a channel uses on the server behind a connection. On a Redis Cluster of 7.0 or later, sharded
/// pub/sub (SPUBLISH/SSUBSCRIBE): a message goes to the nodes of the one shard that owns the channel's slot, where
/// PUBLISH would copy every message over the cluster bus to every node. Elsewhere (one server, Garnet, an older
/// cluster) classic PUBLISH/SUBSCRIBE. A publisher and its subscribers decide alike, from the same servers.
/// <para>
/// A sharded channel published from a script must share the script's hash tag (Redis refuses it otherwise); ours
/// do: <c>notify:{events}:live</c> beside the <c>notify:{events}:*</c> keys.
/// </para>
/// </summary>
public sealed class PubSubChannel(string name)
{
    private static readonly Version ShardedSince = new(7, 0);

    public string Name { get; } = name;

    /// <summary>Throws <see cref="RedisConnectionException"/> while no server is connected: the kind is not known yet.</summary>
    public bool IsSharded(IConnectionMultiplexer redis)
    {
        var servers = redis.GetServers().Where(s => s.IsConnected).ToArray();
        if (servers.Length == 0)
        {
            throw new RedisConnectionException(ConnectionFailureType.UnableToConnect,
                $"No Redis server is connected: cannot tell whether {Name} is a sharded channel yet.");
        }
        return servers.All(s => s.ServerType == ServerType.Cluster && s.Version >= ShardedSince);
    }

    /// <summary>The channel to subscribe to.</summary>
    public RedisChannel For(IConnectionMultiplexer redis) =>
        IsSharded(redis) ? RedisChannel.Sharded(Name) : RedisChannel.Literal(Name);

    /// <summary>The command a script publishes with: <c>SPUBLISH</c> or <c>PUBLISH</c>.</summary>
    public string PublishCommand(IConnectionMultiplexer redis) => IsSharded(redis) ? "SPUBLISH" : "PUBLISH";
}
