using Aspire.Hosting.ApplicationModel;

namespace AppHost.Redis;

/// <summary>
/// A Redis Cluster of local redis-server nodes, as the one resource services reference. It runs nothing itself:
/// its nodes are executable resources and a one-shot <c>redis-cli --cluster create</c> forms them; it is Running once
/// that succeeded and Healthy while every node says <c>cluster_state:ok</c> (all 16384 slots served). Its connection
/// string names every node (<c>host:port,host:port,...,password=...</c>): StackExchange.Redis discovers the slots.
/// </summary>
public sealed class RedisClusterResource(string name, ParameterResource password) : Resource(name), IResourceWithConnectionString, IResourceWithWaitSupport
{
    public ParameterResource PasswordParameter { get; } = password;

    public List<LocalRedisResource> Nodes { get; } = [];

    public ReferenceExpression ConnectionStringExpression
    {
        get
        {
            var expression = new ReferenceExpressionBuilder();
            foreach (var node in Nodes)
            {
                // The address the nodes announce to each other (they bind 127.0.0.1): named as "localhost" the client
                // would count every node twice, once as given here and once as the cluster names it.
                expression.Append($"127.0.0.1:{node.PrimaryEndpoint.Property(EndpointProperty.Port)},");
            }
            expression.Append($"password={PasswordParameter}");
            return expression.Build();
        }
    }
}
