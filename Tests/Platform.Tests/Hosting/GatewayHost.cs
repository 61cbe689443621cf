using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Platform.Hosting;
using Platform.RateLimiting;
using Platform.Sessions;
using Platform.Tests.Redis;

namespace Platform.Tests.Hosting;

/// <summary>
/// A service composed as api and auth compose theirs (AddPlatformRedis, session authentication, the Redis rate
/// limiter, the active-sessions sampler) on a real Kestrel loopback port: <c>GET /api/whoami</c> (authenticated),
/// <c>GET /api/ping</c> (anonymous, touches Redis only through the limiter), <c>POST /auth/sign-in?user=</c> (a
/// session created in Redis, its token in the body).
/// </summary>
internal sealed class GatewayHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GatewayHost(WebApplication app, Uri address)
    {
        _app = app;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(15) };
    }

    public HttpClient Client { get; }
    public IHostApplicationLifetime Lifetime => _app.Services.GetRequiredService<IHostApplicationLifetime>();
    public IEnumerable<BackgroundService> BackgroundServices => _app.Services.GetServices<IHostedService>().OfType<BackgroundService>();

    public static async Task<GatewayHost> StartAsync(RedisServerProcess server, IDictionary<string, string?>? settings = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = server.ConnectionString,
            ["Aspire:StackExchange:Redis:DisableHealthChecks"] = "true",
            ["Sessions:TouchInterval"] = "00:00:00",
        });
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }
        builder.AddPlatformRedis();
        builder.AddSessionAuthentication();
        builder.AddRedisRateLimiting();
        builder.Services.AddProblemDetails();
        builder.Services.AddHostedService<ActiveSessionsSampler>();

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseAuthentication();
        app.UseRateLimiter();
        app.UseAuthorization();
        app.MapWhoAmI("/api");
        app.MapGet("/api/ping", () => "pong");
        app.MapPost("/auth/sign-in", async (string user, SessionStore sessions) =>
            (await sessions.CreateAsync(new SessionUser(user, $"{user}@example.com", user, [], "user"), "tests")).Token);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new GatewayHost(app, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(timeout.Token);
        await _app.DisposeAsync();
    }
}
