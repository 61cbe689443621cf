using Notifier;
using Platform.Hosting;
using Platform.Notifications;
using Platform.Sessions;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddPlatformRedis();
builder.AddSessionAuthentication();
builder.AddNotificationStream();
// Project membership comes from api (service discovery resolves http://api; AppHost: notifier.WithReference(api)),
// asked with this service's own key (Api:ServiceKey).
builder.Services.Configure<ApiOptions>(builder.Configuration.GetSection("Api"));
builder.Services.AddHttpClient<IProjectMembership, ApiProjectMembership>(api => api.BaseAddress = new Uri("http://api"));

var app = builder.Build();

app.MapDefaultEndpoints();
app.UseAuthentication();
app.UseAuthorization();
app.MapServiceInfo("/notifications");
app.MapWhoAmI("/notifications");
app.MapNotificationsApi("/notifications");

app.Run();
