using Platform.Data;
using Platform.Hosting;
using Platform.Jobs;
using Platform.Locking;
using Platform.Notifications;
using Platform.Sessions;
using Worker;
using Worker.Handlers;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddPlatformRedis();
builder.AddServiceKeyAuthentication();

builder.Services.Configure<WorkerOptions>(builder.Configuration.GetSection("Worker"));
builder.Services.AddSingleton<IDistributedLock, RedisDistributedLock>();
builder.AddNotificationPublisher();
builder.Services.AddSingleton<IDeploymentStatusPublisher, NotifierDeploymentStatusPublisher>();
// Project databases on the projects server when the AppHost gives one (PostgreSQL), else SQLite files.
if (builder.Configuration.GetConnectionString("projects") is { } projects && StoreProviders.Of(projects) == StoreProvider.PostgreSql)
{
    builder.Services.AddSingleton<IProjectDatabases>(services =>
        ActivatorUtilities.CreateInstance<PostgresProjectDatabases>(services, projects));
}
else
{
    builder.Services.AddSingleton<IProjectDatabases, SqliteProjectDatabases>();
}

// One processor per queue; concurrency and leases from Jobs:Processors:<queue>.
builder.AddJobProcessor<DeploymentHandler>("deployment");
builder.AddJobProcessor<ProvisionHandler>("provision");
builder.AddJobProcessor<EmailHandler>("email");
// Above every processor's ShutdownGrace (10 s by default), so running jobs can finish or be released.
builder.Services.Configure<HostOptions>(options => options.ShutdownTimeout = TimeSpan.FromSeconds(30));

var app = builder.Build();

app.MapDefaultEndpoints();
app.UseAuthentication();
app.UseAuthorization();
app.MapServiceInfo("/worker");
app.MapJobAdmin("/worker/admin");

app.Run();
