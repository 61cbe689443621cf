using Platform.Hosting;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddPlatformRedis();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapServiceInfo("/worker");

app.Run();
