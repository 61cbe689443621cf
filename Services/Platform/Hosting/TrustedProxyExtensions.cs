using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Platform.Hosting;

/// <summary>
/// Who the caller is when a proxy stands in front: ASP.NET Core's forwarded-headers middleware, trusting
/// <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> only from the networks in <c>ForwardedHeaders:KnownNetworks</c>
/// (CIDR, e.g. <c>10.0.0.0/8</c>) and the addresses in <c>ForwardedHeaders:KnownProxies</c>. Nothing is trusted by
/// default, loopback included: the framework's defaults trust loopback (on one machine every local process would be a
/// "proxy" that can claim any address), and with both lists empty it trusts everyone. From a trusted peer, the address it appended (the right-most entry) becomes
/// <c>Connection.RemoteIpAddress</c> and its scheme <c>Request.Scheme</c>; from anyone else the headers are ignored.
/// </summary>
public static class TrustedProxyExtensions
{
    public const string SectionName = "ForwardedHeaders";

    public static TBuilder AddTrustedProxies<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var section = builder.Configuration.GetSection(SectionName);
        var networks = Values(section.GetSection("KnownNetworks")).Select(ParseNetwork).ToList();
        var proxies = Values(section.GetSection("KnownProxies")).Select(ParseAddress).ToList();
        builder.Services.Configure<ForwardedHeadersOptions>(options =>
        {
            // The middleware trusts every peer when both lists are empty: with none configured, it must read nothing.
            options.ForwardedHeaders = networks.Count + proxies.Count == 0
                ? ForwardedHeaders.None
                : ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            // Only the hop the trusted proxy added: entries to its left were written by the client and prove nothing.
            options.ForwardLimit = 1;
            options.KnownIPNetworks.Clear();
            options.KnownProxies.Clear();
            networks.ForEach(options.KnownIPNetworks.Add);
            proxies.ForEach(options.KnownProxies.Add);
        });
        return builder;
    }

    /// <summary>First in the pipeline, so that everything after it (the limiter, sign-in, cookies) sees the real caller.</summary>
    public static IApplicationBuilder UseTrustedProxies(this IApplicationBuilder app) => app.UseForwardedHeaders();

    // A list in configuration (KnownNetworks:0, :1, ...) or one value separated by commas or semicolons.
    private static IEnumerable<string> Values(IConfigurationSection section) =>
        (section.Value is { Length: > 0 } single ? [single] : section.GetChildren().Select(c => c.Value ?? ""))
            .SelectMany(v => v.Split([',', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static System.Net.IPNetwork ParseNetwork(string cidr) => System.Net.IPNetwork.TryParse(cidr, out var network)
        ? network
        : throw new InvalidOperationException($"{SectionName}:KnownNetworks: '{cidr}' is not a network in CIDR form (e.g. 10.0.0.0/8).");

    private static IPAddress ParseAddress(string address) => IPAddress.TryParse(address, out var parsed)
        ? parsed
        : throw new InvalidOperationException($"{SectionName}:KnownProxies: '{address}' is not an IP address.");
}
