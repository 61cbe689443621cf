using AppHost.Redis;

var builder = DistributedApplication.CreateBuilder(args);

var redis = builder.AddRedisRuntime("redis");

// The first admin. The password is generated unless Parameters:admin-password is set; the dashboard shows it.
var adminEmail = builder.AddParameter("admin-email", "admin@example.com", publishValueAsDefault: true);
var adminPassword = builder.AddParameter("admin-password",
    new GenerateParameterDefault { MinLength = 16, Special = false }, secret: true);

var auth = builder.AddProject<Projects.Auth>("auth")
    .WithReference(redis).WaitFor(redis)
    .WithEnvironment("Auth__AdminEmail", adminEmail)
    .WithEnvironment("Auth__AdminPassword", adminPassword)
    .WithHttpHealthCheck("/health");

var notifier = builder.AddProject<Projects.Notifier>("notifier")
    .WithReference(redis).WaitFor(redis)
    .WithHttpHealthCheck("/health");

// Operator commands in the dashboard: HTTP calls to the worker's internal admin endpoints (Worker/JobAdminEndpoints.cs).
builder.AddProject<Projects.Worker>("worker")
    .WithReference(redis).WaitFor(redis)
    .WithHttpHealthCheck("/health")
    .WithHttpCommand("/worker/admin/dead/retry", "Retry dead jobs", commandName: "retry-dead-jobs", commandOptions: new HttpCommandOptions
    {
        Description = "Move every dead-lettered job of every queue back to ready, with fresh attempts.",
        ConfirmationMessage = "Retry every dead job of every queue?",
        IconName = "ArrowRepeatAll",
        ResultMode = HttpCommandResultMode.Json,
    })
    .WithHttpCommand("/worker/admin/queues", "Show queue counts", commandName: "queue-counts", commandOptions: new HttpCommandOptions
    {
        Description = "Ready, scheduled, active and dead jobs per queue.",
        Method = HttpMethod.Get,
        IconName = "DataBarVertical",
        ResultMode = HttpCommandResultMode.Json,
    });

var api = builder.AddProject<Projects.Api>("api")
    .WithReference(redis).WaitFor(redis)
    .WithReference(auth).WithReference(notifier)
    .WithHttpHealthCheck("/health")
    .WithExternalHttpEndpoints();

// The portal links each answer's trace id to the dashboard's trace view; the dashboard listens on the AppHost's URL.
if (builder.ExecutionContext.IsRunMode && builder.Configuration["ASPNETCORE_URLS"]?.Split(';')[0] is { Length: > 0 } dashboard)
{
    api.WithEnvironment("Portal__DashboardUrl", dashboard);
}

// The notifier asks api who belongs to a project. References only (service discovery), no WaitFor: the cycle
// api <-> notifier is fine for references, whereas waiting on each other would never start either.
notifier.WithReference(api);

builder.Build().Run();
