namespace Platform.Tests.Redis;

/// <summary>Changes this process's PATH and CI variables, so it runs alone, after the parallel collections.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentCollection
{
    public const string Name = "process environment";
}

[Collection(ProcessEnvironmentCollection.Name)]
public sealed class DotnetOnlyMachineTests
{
    [Fact]
    public async Task WithoutRedisServerOnPathTheTestsRunOnGarnetAndClusterTestsSkipExceptUnderCi()
    {
        var (path, ci) = (Environment.GetEnvironmentVariable("PATH"), Environment.GetEnvironmentVariable("CI"));
        var dotnet = Path.GetDirectoryName(Path.GetFullPath(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? Environment.ProcessPath!))!;
        var withoutRedis = (path ?? "").Split(Path.PathSeparator).Where(dir => !File.Exists(Path.Combine(dir, "redis-server")));
        try
        {
            Environment.SetEnvironmentVariable("PATH", string.Join(Path.PathSeparator, withoutRedis.Prepend(dotnet)));

            Environment.SetEnvironmentVariable("CI", "true");
            var refused = Assert.Throws<InvalidOperationException>(() => new RedisServerProcess(RedisServerKind.RedisServer));
            Assert.Contains("apt-get install redis-server", refused.Message);

            Assert.Null(NeedsRedisClusterAttribute.SkipReason); // CI runs the cluster suites...
            var noCluster = await Assert.ThrowsAsync<InvalidOperationException>(() => RedisClusterProcess.StartNewAsync());
            Assert.Contains("apt-get install redis-server", noCluster.Message); // ...and fails loudly without one

            Environment.SetEnvironmentVariable("CI", null);
            Assert.Contains("apt-get install redis-server", NeedsRedisClusterAttribute.SkipReason); // skipped, saying how to install
            await using var server = await RedisServerProcess.StartNewAsync(RedisServerKind.RedisServer);
            Assert.Equal(RedisServerKind.Garnet, server.Kind);
            await using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
            Assert.Equal("ok", (string?)await connection.GetDatabase().ExecuteAsync("ECHO", "ok"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
            Environment.SetEnvironmentVariable("CI", ci);
        }
    }
}
