using AppHost.Redis;

var builder = DistributedApplication.CreateBuilder(args);

var redis = builder.AddRedisRuntime("redis");

var auth = builder.AddProject<Projects.Auth>("auth")
    .WithReference(redis).WaitFor(redis)
    .WithHttpHealthCheck("/health");

var notifier = builder.AddProject<Projects.Notifier>("notifier")
    .WithReference(redis).WaitFor(redis)
    .WithHttpHealthCheck("/health");

builder.AddProject<Projects.Worker>("worker")
    .WithReference(redis).WaitFor(redis)
    .WithHttpHealthCheck("/health");

builder.AddProject<Projects.Api>("api")
    .WithReference(redis).WaitFor(redis)
    .WithReference(auth).WithReference(notifier)
    .WithHttpHealthCheck("/health")
    .WithExternalHttpEndpoints();

builder.Build().Run();
