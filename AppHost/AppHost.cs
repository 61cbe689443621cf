using AppHost;
using AppHost.Database;
using AppHost.Redis;

var builder = DistributedApplication.CreateBuilder(args);

var redis = builder.AddRedisRuntime("redis");
// Users and projects: PostgreSQL (container or local postgres) or SQLite files; Database:Runtime, AppHost/Database/.
var database = builder.AddDatabaseRuntime();

// The first admin: admin@example.com unless Parameters:admin-email says otherwise. The password is generated unless
// Parameters:admin-password is set; the dashboard shows it.
var adminEmail = builder.AddParameter("admin-email", new ConfigurableParameterDefault("admin@example.com"));
var adminPassword = builder.AddParameter("admin-password",
    new GenerateParameterDefault { MinLength = 16, Special = false }, secret: true);
// Keys that services present to each other (X-Service-Key), generated per run: the notifier's to api, the AppHost's
// (its dashboard commands) to the worker.
var notifierKey = builder.AddParameter("notifier-service-key",
    new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true);
var workerAdminKey = builder.AddParameter("worker-admin-key",
    new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true);

var auth = builder.AddProject<Projects.Auth>("auth")
    .WithReference(redis).WaitFor(redis)
    .WithDatabase(database.Users, database)
    .WithEnvironment("Auth__AdminEmail", adminEmail)
    .WithEnvironment("Auth__AdminPassword", adminPassword)
    .WithHttpHealthCheck("/health");

var notifier = builder.AddProject<Projects.Notifier>("notifier")
    .WithReference(redis).WaitFor(redis)
    .WithEnvironment("Api__ServiceKey", notifierKey)
    .WithHttpHealthCheck("/health");

// Operator commands in the dashboard: HTTP calls to the worker's admin endpoints (Worker/JobAdminEndpoints.cs), which
// answer only a caller with the AppHost's key.
builder.AddProject<Projects.Worker>("worker")
    .WithReference(redis).WaitFor(redis)
    .WithDatabase(database.Projects, database)
    .WithEnvironment("ServiceKeys__apphost", workerAdminKey)
    .WithHttpHealthCheck("/health")
    .WithHttpCommand("/worker/admin/dead/retry", "Retry dead jobs", commandName: "retry-dead-jobs", commandOptions: new HttpCommandOptions
    {
        Description = "Move every dead-lettered job of every queue back to ready, with fresh attempts.",
        ConfirmationMessage = "Retry every dead job of every queue?",
        IconName = "ArrowRepeatAll",
        ResultMode = HttpCommandResultMode.Json,
        PrepareRequest = context => SendKeyAsync(context, workerAdminKey),
    })
    .WithHttpCommand("/worker/admin/queues", "Show queue counts", commandName: "queue-counts", commandOptions: new HttpCommandOptions
    {
        Description = "Ready, scheduled, active and dead jobs per queue.",
        Method = HttpMethod.Get,
        IconName = "DataBarVertical",
        ResultMode = HttpCommandResultMode.Json,
        PrepareRequest = context => SendKeyAsync(context, workerAdminKey),
    });

var api = builder.AddProject<Projects.Api>("api")
    .WithReference(redis).WaitFor(redis)
    .WithDatabase(database.Projects, database)
    .WithReference(auth).WithReference(notifier)
    .WithEnvironment("ServiceKeys__notifier", notifierKey)
    .WithHttpHealthCheck("/health")
    .WithExternalHttpEndpoints();

if (builder.ExecutionContext.IsPublishMode)
{
    // Azure Container Apps: every external request reaches api through the environment's ingress (Envoy), from an
    // address inside the environment's private network. Forwarded headers are trusted from private ranges only, so
    // the ingress's X-Forwarded-For/-Proto name each caller; narrow this to the environment's subnet if it has one.
    api.WithEnvironment("ForwardedHeaders__KnownNetworks", "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10");
}
else
{
    // Locally the orchestrator's endpoint proxy would hand api every caller as 127.0.0.1 (one anonymous bucket, one
    // sign-in budget for everyone). Not proxied, api sees each client's own address on its port (5100).
    api.WithEndpoint("http", endpoint =>
    {
        endpoint.IsProxied = false;
        endpoint.TargetPort = endpoint.Port;
    });
}

// The portal links each answer's trace id to the dashboard's trace view; the dashboard listens on the AppHost's URL.
if (builder.ExecutionContext.IsRunMode && builder.Configuration["ASPNETCORE_URLS"]?.Split(';')[0] is { Length: > 0 } dashboard)
{
    api.WithEnvironment("Portal__DashboardUrl", dashboard);
}

// The notifier asks api who belongs to a project. References only (service discovery), no WaitFor: the cycle
// api <-> notifier is fine for references, whereas waiting on each other would never start either.
notifier.WithReference(api);

// Every endpoint is http: no project takes the development certificate for Kestrel, so the dashboard does not open with
// "No trusted development certificate" (Aspire warns only when some resource uses TLS).
foreach (var project in builder.Resources.OfType<ProjectResource>().ToList())
{
#pragma warning disable ASPIRECERTIFICATES001 // evaluation API; the supported opt-out of the development certificate per resource
    builder.CreateResourceBuilder(project).WithoutHttpsCertificate();
#pragma warning restore ASPIRECERTIFICATES001
}

builder.Build().Run();

static async Task SendKeyAsync(HttpCommandRequestContext context, IResourceBuilder<ParameterResource> key) =>
    context.Request.Headers.Add("X-Service-Key", await key.Resource.GetValueAsync(context.CancellationToken));
