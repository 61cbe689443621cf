namespace Platform.Tests.Redis;

/// <summary>
/// On a test class: every test in it needs a Redis Cluster (a suite bound to <see cref="ClusterCollection"/>). Where
/// none can run (no redis-server or redis-cli on PATH) each test is reported skipped with the reason and the install
/// command, never failed; under CI (<c>CI=true</c>) they always run. The tests are written once, with plain
/// <c>[Fact]</c>, for every server; only their binding to the cluster carries this.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class NeedsRedisClusterAttribute : Attribute
{
    /// <summary>Why the tests of such a class are skipped here, or null where they run.</summary>
    public static string? SkipReason => RedisServerProcess.UnderCi ? null : RedisClusterProcess.Unavailable;
}
