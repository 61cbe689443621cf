using Platform.Redis;
using StackExchange.Redis;

namespace Platform.Tests.Redis;

/// <summary>
/// The guard key must hash to its script's slot, or every guarded script would fail with CROSSSLOT on a cluster. Slots
/// as the cluster connection computes them (a connection to one server has none).
/// </summary>
[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class MigrationGuardTests(RedisClusterFixture cluster)
{
    [Theory]
    [InlineData("jobs:{q1}:ready")]
    [InlineData("auth:{u:42}:sessions")]
    [InlineData("lock:{deploy:7}")]
    [InlineData("no-tag-at-all")]
    [InlineData("unclosed{tag")]
    public void TheGuardIsInTheSlotOfTheScriptsFirstKeyAndComesLast(string first)
    {
        var keys = MigrationGuard.Append([first, "second"]);

        Assert.Equal([first, "second"], keys[..2].Select(k => (string)k!));
        Assert.Equal(HashSlot(first), HashSlot(keys[2]));
        Assert.EndsWith(":migration-guard", (string)keys[2]!);
    }

    [Fact]
    public void AFirstKeyHashedWholeThatHoldsAClosingBraceIsRefused() =>
        Assert.Throws<ArgumentException>(() => MigrationGuard.Append(["empty{}tag"]));

    [Fact]
    public void AScriptWithoutKeysGetsNoGuard() => Assert.Empty(MigrationGuard.Append([]));

    private int HashSlot(RedisKey key) => cluster.Connection.HashSlot(key);
}
