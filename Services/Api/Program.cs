using Api.Caching;
using Api.Deployments;
using Api.Jobs;
using Api.Outbox;
using Api.Portal;
using Api.Projects;
using Api.Users;
using Platform.Hosting;
using Platform.Jobs;
using Platform.Notifications;
using Platform.RateLimiting;
using Platform.Sessions;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddTrustedProxies();
builder.AddPlatformRedis();
builder.AddSessionAuthentication();
builder.AddServiceKeyAuthentication();
builder.AddRedisRateLimiting();
builder.AddApiOutputCache();
builder.AddProjects();
builder.AddJobQueue();
builder.AddNotificationPublisher();
builder.AddUserProfiles();

// The gateway: /auth/* and /notifications/* go to those services, found by service discovery (appsettings.json).
builder.Services.AddReverseProxy()
    .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
    .AddServiceDiscoveryDestinationResolver();

var app = builder.Build();

// First: everything after it (the limiter, sign-in limits, the session cookie's Secure flag, and the X-Forwarded-*
// headers YARP sends on) sees the real client address and scheme, taken only from a trusted proxy.
app.UseTrustedProxies();
app.UsePortalHeaders();
app.MapDefaultEndpoints();
app.UseAuthentication();
// After authentication, so each request counts against its caller and tier.
app.UseRateLimiter();
app.UseAuthorization();
// After authorization, so a revoked or missing session is refused before any cached answer is looked up.
app.UseOutputCache();
app.MapServiceInfo("/api");
app.MapWhoAmI("/api");
app.MapProjectsApi();
app.MapDeploymentsApi();
app.MapJobsApi();
app.MapOutboxApi();
app.MapUserProfilesApi();
app.MapProjectMembersApi();
// The sign-in route (appsettings.json, Metadata SignIn) carries the sign-in limits: every path spelling that routing
// sends to it (a trailing slash, another case) is that one endpoint.
app.MapReverseProxy().ConfigureEndpoints((endpoint, route) =>
{
    if (route.Metadata?.ContainsKey("SignIn") == true)
    {
        endpoint.WithMetadata(SignInEndpoint.Instance);
    }
});
// The portal (wwwroot): its assets and pages are outside /api, /auth and /notifications, so never rate limited.
app.MapPortal();

await app.InitializeProjectsAsync();
app.Run();
