using Platform.Hosting;
using Platform.RateLimiting;
using Platform.Sessions;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddPlatformRedis();
builder.AddSessionAuthentication();
builder.AddRedisRateLimiting();

// The gateway: /auth/* and /notifications/* go to those services, found by service discovery (appsettings.json).
builder.Services.AddReverseProxy()
    .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
    .AddServiceDiscoveryDestinationResolver();

var app = builder.Build();

app.MapDefaultEndpoints();
app.UseAuthentication();
// After authentication, so each request counts against its caller and tier.
app.UseRateLimiter();
app.UseAuthorization();
app.MapServiceInfo("/api");
app.MapWhoAmI("/api");
app.MapReverseProxy();

app.Run();
