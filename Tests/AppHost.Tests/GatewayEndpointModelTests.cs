namespace AppHost.Tests;

/// <summary>The AppHost's model as <c>dotnet run</c> builds it (read, not started: no engine or process needed).</summary>
public sealed class GatewayEndpointModelTests
{
    [Fact]
    public async Task InRunModeTheGatewayListensOn5100ItselfWithNoProxyInFront()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(["--Redis:Runtime=garnet"], timeout.Token);

        var api = builder.Resources.OfType<ProjectResource>().Single(r => r.Name == "api");
        var http = api.Annotations.OfType<EndpointAnnotation>().Single(e => e.Name == "http");

        Assert.Equal((false, 5100, 5100, true), (http.IsProxied, http.Port, http.TargetPort, http.IsExternal));
    }
}
