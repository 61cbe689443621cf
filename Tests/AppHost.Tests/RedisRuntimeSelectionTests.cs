using AppHost.Redis;

namespace AppHost.Tests;

/// <summary>Every branch of the runtime choice, with the machine's two answers given rather than probed.</summary>
public sealed class RedisRuntimeSelectionTests
{
    private const string RedisServer = "/usr/bin/redis-server";

    [Theory]
    [InlineData(null, true, RedisServer, RedisRuntimeKind.Container)]
    [InlineData("auto", true, RedisServer, RedisRuntimeKind.Container)]
    [InlineData("auto", false, RedisServer, RedisRuntimeKind.Local)]
    [InlineData("AUTO", false, RedisServer, RedisRuntimeKind.Local)]
    [InlineData("container", false, RedisServer, RedisRuntimeKind.Container)]
    [InlineData("local", true, RedisServer, RedisRuntimeKind.Local)]
    [InlineData("garnet", true, RedisServer, RedisRuntimeKind.Garnet)]
    [InlineData("auto", false, null, RedisRuntimeKind.Garnet)]
    [InlineData("cluster", true, RedisServer, RedisRuntimeKind.Cluster)]
    public void RunModeFollowsTheSettingAndTheMachine(string? setting, bool engine, string? redisServer, RedisRuntimeKind expected)
    {
        var choice = RedisRuntimeSelector.Select(setting, isPublishMode: false, () => engine, () => redisServer);

        Assert.Equal(expected, choice.Kind);
        Assert.Equal(expected is RedisRuntimeKind.Local or RedisRuntimeKind.Cluster ? redisServer : null, choice.RedisServerPath);
    }

    [Theory]
    [InlineData("auto")]
    [InlineData("local")]
    [InlineData("container")]
    [InlineData("garnet")]
    [InlineData("cluster")]
    public void PublishingAlwaysDeploysTheContainerWithoutProbingTheMachine(string setting)
    {
        var choice = RedisRuntimeSelector.Select(setting, isPublishMode: true,
            () => throw new InvalidOperationException("probed the engine"),
            () => throw new InvalidOperationException("probed PATH"));

        Assert.Equal(RedisRuntimeKind.Container, choice.Kind);
    }

    [Fact]
    public void AnUnknownRuntimeIsRefusedWithTheAllowedValues()
    {
        var error = Assert.Throws<DistributedApplicationException>(
            () => RedisRuntimeSelector.Select("kubernetes", isPublishMode: false, () => true, () => RedisServer));

        Assert.Contains("'kubernetes'", error.Message);
        Assert.Contains("auto, container, local, garnet, cluster", error.Message);
    }

    [Fact]
    public void AMachineWithNeitherEngineNorRedisServerFallsBackToGarnetAndSaysHowToGetRedis()
    {
        var choice = RedisRuntimeSelector.Select("auto", isPublishMode: false, () => false, () => null);

        Assert.Equal(RedisRuntimeKind.Garnet, choice.Kind);
        Assert.Contains("Docker", choice.Reason);
        Assert.Contains("install redis-server", choice.Reason);
    }

    [Fact]
    public void LocalWithoutRedisServerFailsSayingHowToInstallIt()
    {
        var error = Assert.Throws<DistributedApplicationException>(
            () => RedisRuntimeSelector.Select("local", isPublishMode: false, () => true, () => null));

        Assert.Contains("apt-get install redis-server", error.Message);
    }

    [Fact]
    public void ClusterWithoutRedisServerFailsSayingHowToInstallIt()
    {
        var error = Assert.Throws<DistributedApplicationException>(
            () => RedisRuntimeSelector.Select("cluster", isPublishMode: false, () => true, () => null));

        Assert.Contains("apt-get install redis-server", error.Message);
    }
}
