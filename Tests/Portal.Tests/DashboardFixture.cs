using Microsoft.Extensions.DependencyInjection;

namespace Portal.Tests;

/// <summary>
/// The portal's system with the Aspire dashboard on, over http as <c>dotnet run --project AppHost</c> serves it, here
/// on a port the orchestrator chose and without its login (anonymous). The services export their telemetry to it.
/// </summary>
public sealed class DashboardFixture : PortalFixture
{
    /// <summary>The dashboard's own address (its resource's <c>http</c> endpoint).</summary>
    public Uri DashboardAddress => new(App.Services.GetRequiredService<DistributedApplicationModel>().Resources
        .Single(r => r.Name == "aspire-dashboard").Annotations.OfType<EndpointAnnotation>()
        .Single(e => e.Name == "http").AllocatedEndpoint!.UriString);

    protected override void ConfigureOptions(DistributedApplicationOptions options) => options.DisableDashboard = false;

    protected override string[] Arguments => ["--ASPIRE_ALLOW_UNSECURED_TRANSPORT=true", "--ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS=true"];
}

[CollectionDefinition(Name)]
public sealed class DashboardCollection : ICollectionFixture<DashboardFixture>
{
    public const string Name = "dashboard";
}
