namespace Platform.Tests.Redis;

/// <summary>
/// A test of something only redis-server does (a fault Garnet cannot produce, command statistics, the append-only
/// file). Where redis-server is not on PATH the other tests run on Garnet instead; these are reported skipped, with
/// what they need and how to install it. Under CI (<c>CI=true</c>) they always run: CI must test Redis itself.
/// </summary>
public sealed class RedisServerFactAttribute : FactAttribute
{
    /// <param name="needs">What redis-server serves and Garnet does not, e.g. "CLIENT KILL".</param>
    public RedisServerFactAttribute(string needs)
    {
        if (!RedisServerProcess.IsRedisServerOnPath && !RedisServerProcess.UnderCi)
        {
            Skip = $"Needs redis-server itself ({needs}; Garnet, which runs the other tests here, does not serve it) and none is on PATH. " +
                   "Install it: sudo apt-get install redis-server (macOS: brew install redis).";
        }
    }
}
