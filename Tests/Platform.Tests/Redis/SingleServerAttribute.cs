namespace Platform.Tests.Redis;

/// <summary>
/// On a test method: it is about one server's link or process (a stalled socket through a proxy, a restart), which a
/// cluster client does not have; it is not bound to the cluster, and says why here.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class SingleServerAttribute(string why) : Attribute
{
    public string Why { get; } = why;
}
