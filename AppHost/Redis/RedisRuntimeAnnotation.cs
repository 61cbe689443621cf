using Aspire.Hosting.ApplicationModel;

namespace AppHost.Redis;

/// <summary>Which runtime serves the Redis resource, and why: readable from the model (tests, tooling).</summary>
public sealed record RedisRuntimeAnnotation(RedisRuntimeChoice Choice) : IResourceAnnotation;
