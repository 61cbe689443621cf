#pragma warning disable ASPIRECERTIFICATES001 // reading the certificate annotations the orchestrator reads
using Microsoft.Extensions.DependencyInjection;

namespace AppHost.Tests;

/// <summary>
/// The dashboard shows "No trusted development certificate" (and the AppHost logs it) only when some resource uses TLS:
/// an https endpoint, or a server certificate Aspire would configure from the development certificate. Nothing here does
/// when run locally (every endpoint is http), so a fresh clone opens the dashboard without that banner.
/// </summary>
public sealed class DashboardCertificateTests
{
    // auto: redis-server where it is on PATH (CI), else Garnet or a container; garnet: on every machine (from NuGet).
    // Not "local": a machine with only the .NET SDK has no redis-server, and the choice would fail before the model.
    [Theory]
    [InlineData("auto")]
    [InlineData("garnet")]
    public async Task InRunModeNoResourceAsksForTheDevelopmentCertificate(string runtime)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>([$"--Redis:Runtime={runtime}"], timeout.Token);
        await using var app = await builder.BuildAsync(timeout.Token);
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();

        var tls = model.Resources.Where(r =>
            r.Annotations.OfType<EndpointAnnotation>().Any(e => e.UriScheme == "https")
            || (r.Annotations.OfType<HttpsCertificateConfigurationCallbackAnnotation>().Any()
                && !(r.TryGetLastAnnotation<HttpsCertificateAnnotation>(out var certificate)
                     && certificate.UseDeveloperCertificate is false or null && certificate.Certificate is null)))
            .Select(r => r.Name).ToArray();
        Assert.True(tls.Length == 0, $"Resources using TLS: {string.Join(", ", tls)}");
    }
}
