using AppHost.Redis;
using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Json;
using StackExchange.Redis;

namespace AppHost.Tests;

[Collection(SystemCollection.Name)]
public sealed class SystemTests(DistributedAppFixture system)
{
    private sealed record ServiceInfo(string Service, string Instance, double RedisPingMs);

    [Fact]
    public async Task EveryServiceReportsItselfAndRedisHealthy()
    {
        foreach (var service in DistributedAppFixture.Services)
        {
            using var http = system.App.CreateHttpClient(service);
            using var response = await http.GetAsync("/health");
            var report = await response.Content.ReadFromJsonAsync<HealthReport>();

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("Healthy", report!.Status);
            Assert.Equal("Healthy", report.Checks["StackExchange.Redis"].Status);
        }
    }

    [Theory]
    [InlineData("/auth/about", "auth")]
    [InlineData("/notifications/about", "notifier")]
    [InlineData("/api/about", "api")]
    public async Task TheGatewayRoutesEachPathToItsService(string path, string expectedService)
    {
        using var gateway = system.App.CreateHttpClient("api");

        var info = await gateway.GetFromJsonAsync<ServiceInfo>(path);

        Assert.Equal(expectedService, info!.Service);
        Assert.True(info.RedisPingMs > 0, "the service answered without reaching Redis");
    }

    [Fact]
    public async Task RedisRefusesAConnectionWithoutItsPassword()
    {
        var connectionString = await system.App.GetConnectionStringAsync("redis");
        var options = ConfigurationOptions.Parse(connectionString!);
        Assert.False(string.IsNullOrEmpty(options.Password));

        await using (var authenticated = await ConnectionMultiplexer.ConnectAsync(options))
        {
            await authenticated.GetDatabase().StringSetAsync("apphost-tests:probe", "ok", TimeSpan.FromSeconds(30));
        }

        options.Password = null;
        options.AbortOnConnectFail = false;
        await using var anonymous = await ConnectionMultiplexer.ConnectAsync(options);
        var refused = await Assert.ThrowsAnyAsync<RedisException>(
            () => anonymous.GetDatabase().StringGetAsync("apphost-tests:probe"));
        var redis = system.App.Services.GetRequiredService<DistributedApplicationModel>().Resources.Single(r => r.Name == "redis");
        if (redis.Annotations.OfType<RedisRuntimeAnnotation>().Single().Choice.Kind == RedisRuntimeKind.Garnet)
        {
            // Garnet (a machine with only the .NET SDK) refuses the client's handshake itself: it never connects.
            Assert.IsType<RedisConnectionException>(refused);
        }
        else
        {
            Assert.Contains("NOAUTH", refused.ToString());
        }
    }

    [Fact]
    public async Task OnlyTheGatewayAcceptsConnectionsFromOutsideTheMachine()
    {
        var model = system.App.Services.GetRequiredService<DistributedApplicationModel>();
        var external = model.Resources
            .Where(r => r.TryGetEndpoints(out var endpoints) && endpoints.Any(e => e.IsExternal))
            .Select(r => r.Name);

        Assert.Equal(["api"], external);
    }
}

internal sealed record HealthReport(string Status, Dictionary<string, HealthEntry> Checks);

internal sealed record HealthEntry(string Status, double DurationMs);
