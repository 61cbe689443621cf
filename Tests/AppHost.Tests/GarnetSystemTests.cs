using System.Net;
using AppHost.Redis;
using Microsoft.Extensions.DependencyInjection;
using static AppHost.Tests.GatewayClient;

namespace AppHost.Tests;

/// <summary>A full-system smoke run on a machine that has the .NET SDK and nothing else.</summary>
[Collection(DotnetOnlyCollection.Name)]
public sealed class GarnetSystemTests(DotnetOnlyMachineFixture system)
{
    [Fact]
    public void WithNeitherAnEngineNorRedisServerTheAppHostRunsGarnetAndSaysWhy()
    {
        var redis = system.App.Services.GetRequiredService<DistributedApplicationModel>().Resources.Single(r => r.Name == "redis");
        var runtime = redis.Annotations.OfType<RedisRuntimeAnnotation>().Single().Choice;

        Assert.Equal(RedisRuntimeKind.Garnet, runtime.Kind);
        Assert.Contains("no redis-server", runtime.Reason);
    }

    [Fact]
    public async Task SignInWorksAtEveryServiceAndRevokingEverywhereWorks()
    {
        using var gateway = system.CreateGatewayClient();
        var email = NewEmail();
        await gateway.RegisterAsync(email);
        var first = await gateway.LoginAsync(email);
        var second = await gateway.LoginAsync(email);

        foreach (var path in new[] { "/auth/me", "/api/whoami", "/notifications/whoami" })
        {
            using var response = await gateway.GetAsync(path, second.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(2, (await gateway.GetAsync<SessionItem[]>("/auth/sessions", first.Token)).Length);

        Assert.Equal(HttpStatusCode.NoContent, await gateway.SendAsync(HttpMethod.Delete, "/auth/sessions", first.Token));
        using var refused = await gateway.GetAsync("/api/whoami", second.Token);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }
}
