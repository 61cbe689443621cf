using Platform.Hosting;
using Platform.Sessions;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddPlatformRedis();
builder.AddSessionAuthentication();

var app = builder.Build();

app.MapDefaultEndpoints();
app.UseAuthentication();
app.UseAuthorization();
app.MapServiceInfo("/notifications");
app.MapWhoAmI("/notifications");

app.Run();
