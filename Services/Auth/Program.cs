using Auth;
using Auth.Users;
using Platform.Hosting;
using Platform.Sessions;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddPlatformRedis();
builder.AddSessionAuthentication();
builder.AddUsers();
builder.Services.AddHostedService<ActiveSessionsSampler>();

var app = builder.Build();

app.MapDefaultEndpoints();
app.UseAuthentication();
app.UseAuthorization();

app.MapServiceInfo("/auth");
app.MapAuthApi();

await app.InitializeUsersAsync();
app.Run();
