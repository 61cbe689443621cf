using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Platform.Hosting;

namespace Platform.Tests.Hosting;

/// <summary>Forwarded headers on a real Kestrel loopback port: trusted only from the configured proxies.</summary>
public sealed class TrustedProxyTests
{
    [Theory]
    [InlineData(null, "127.0.0.1|http")]
    [InlineData("127.0.0.1", "198.51.100.9|https")]
    [InlineData("10.0.0.0/8", "127.0.0.1|http")]
    public async Task ForwardedHeadersCountOnlyFromAConfiguredProxyLoopbackIncluded(string? trusted, string expected)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        if (trusted is not null)
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                [trusted.Contains('/') ? "ForwardedHeaders:KnownNetworks" : "ForwardedHeaders:KnownProxies"] = trusted,
            });
        }
        builder.AddTrustedProxies();
        await using var app = builder.Build();
        app.UseTrustedProxies();
        app.MapGet("/caller", (HttpContext context) => $"{context.Connection.RemoteIpAddress}|{context.Request.Scheme}");
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        using var client = new HttpClient { BaseAddress = new Uri(address) };

        using var request = new HttpRequestMessage(HttpMethod.Get, "/caller");
        request.Headers.Add("X-Forwarded-For", "203.0.113.1, 198.51.100.9");
        request.Headers.Add("X-Forwarded-Proto", "https");
        using var response = await client.SendAsync(request);

        Assert.Equal(expected, await response.Content.ReadAsStringAsync());
        await app.StopAsync();
    }
}
