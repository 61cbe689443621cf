using Aspire.Hosting.ApplicationModel;

namespace AppHost.Redis;

/// <summary>
/// A <c>redis-server</c> process run by the orchestrator. Its connection string has the same shape as
/// <c>AddRedis</c>'s (<c>host:port,password=...</c>), so services cannot tell the two apart.
/// </summary>
public sealed class LocalRedisResource(string name, string command, string workingDirectory, ParameterResource password)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public const string PrimaryEndpointName = "tcp";

    public ParameterResource PasswordParameter { get; } = password;

    public EndpointReference PrimaryEndpoint => field ??= new(this, PrimaryEndpointName);

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{PrimaryEndpoint.Property(EndpointProperty.HostAndPort)},password={PasswordParameter}");
}
