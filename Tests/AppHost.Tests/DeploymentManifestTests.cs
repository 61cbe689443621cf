using System.Diagnostics;
using System.Text.Json.Nodes;

namespace AppHost.Tests;

/// <summary>
/// What <c>azd up</c> would deploy, read from the manifest the AppHost publishes. Needs no container engine:
/// publishing only describes the resources.
/// </summary>
public sealed class DeploymentManifestTests : IAsyncLifetime
{
    private static readonly string[] Projects = ["auth", "api", "notifier", "worker"];
    private readonly string _directory = Directory.CreateTempSubdirectory("manifest-").FullName;
    private JsonObject _resources = new();

    public async Task InitializeAsync()
    {
        var manifestPath = Path.Combine(_directory, "aspire-manifest.json");
#if DEBUG
        const string configuration = "Debug";
#else
        const string configuration = "Release";
#endif
        // The SDK tells test hosts which dotnet runs them; a PATH of its folder alone hides docker and redis-server.
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var start = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList =
            {
                "run", "--project", global::Projects.AppHost.ProjectPath, "--no-build", "-c", configuration,
                "--", "--publisher", "manifest", "--output-path", manifestPath,
            },
        };
        // Publishing must not depend on what this machine has: it has neither engine nor redis-server here.
        start.Environment["PATH"] = Path.GetDirectoryName(Path.GetFullPath(dotnet)) ?? "";
        start.Environment["Redis__Runtime"] = "local";
        start.Environment["Database__Runtime"] = "local";

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(process.ExitCode == 0, $"publishing the manifest failed:\n{await output}\n{await errors}");

        _resources = JsonNode.Parse(await File.ReadAllTextAsync(manifestPath))!["resources"]!.AsObject();
    }

    [Fact]
    public void RedisIsDeployedAsAContainerWithASecretGeneratedPassword()
    {
        var redis = _resources["redis"]!;
        Assert.Equal("container.v0", (string?)redis["type"]);
        Assert.StartsWith("docker.io/library/redis:8", (string?)redis["image"]);
        Assert.Contains("password={redis-password.value}", (string?)redis["connectionString"]);

        var password = _resources["redis-password"]!;
        Assert.Equal("parameter.v0", (string?)password["type"]);
        Assert.True((bool?)password["inputs"]!["value"]!["secret"]);
        Assert.NotNull(password["inputs"]!["value"]!["default"]!["generate"]);
    }

    [Fact]
    public void EveryServiceIsAProjectThatReceivesTheRedisConnectionString()
    {
        foreach (var name in Projects)
        {
            var project = _resources[name]!;
            Assert.Equal("project.v0", (string?)project["type"]);
            Assert.Equal("{redis.connectionString}", (string?)project["env"]!["ConnectionStrings__redis"]);
        }
    }

    [Fact]
    public void NothingRunsAsAnExecutableAndOnlyTheGatewayIsExternal()
    {
        Assert.DoesNotContain(_resources, r => ((string?)r.Value!["type"])?.StartsWith("executable") == true);

        var external = _resources
            .Where(r => r.Value!["bindings"]?.AsObject().Any(b => (bool?)b.Value!["external"] == true) == true)
            .Select(r => r.Key);
        Assert.Equal(["api"], external);
    }

    [Fact]
    public void TheGatewayTrustsForwardedHeadersFromTheIngressNetworksOnlyAndTheAdminEmailIsASettableParameter()
    {
        Assert.Equal("10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10",
            (string?)_resources["api"]!["env"]!["ForwardedHeaders__KnownNetworks"]);
        Assert.All(Projects.Where(name => name != "api"), name => Assert.Null(_resources[name]!["env"]!["ForwardedHeaders__KnownNetworks"]));

        var adminEmail = _resources["admin-email"]!;
        Assert.Equal("parameter.v0", (string?)adminEmail["type"]);
        Assert.Equal("admin@example.com", (string?)adminEmail["inputs"]!["value"]!["default"]!["value"]);
        foreach (var key in new[] { "notifier-service-key", "worker-admin-key" })
        {
            Assert.True((bool?)_resources[key]!["inputs"]!["value"]!["secret"]);
            Assert.NotNull(_resources[key]!["inputs"]!["value"]!["default"]!["generate"]);
        }
    }

    [Fact]
    public void PostgreSqlIsDeployedAsAContainerWithADataVolumeAndASecretGeneratedPassword()
    {
        var postgres = _resources["postgres"]!;
        Assert.Equal("container.v0", (string?)postgres["type"]);
        Assert.StartsWith("docker.io/library/postgres:", (string?)postgres["image"]);
        // The postgres 18 image keeps its data under /var/lib/postgresql.
        Assert.Contains(postgres["volumes"]!.AsArray(), volume => ((string?)volume!["target"])?.StartsWith("/var/lib/postgresql") == true);
        Assert.Equal("{postgres-password.value}", (string?)postgres["env"]!["POSTGRES_PASSWORD"]);

        var password = _resources["postgres-password"]!;
        Assert.Equal("parameter.v0", (string?)password["type"]);
        Assert.True((bool?)password["inputs"]!["value"]!["secret"]);
        Assert.NotNull(password["inputs"]!["value"]!["default"]!["generate"]);
    }

    [Fact]
    public void EachOwnerGetsItsOwnDatabaseOnThatServer()
    {
        foreach (var (database, owners) in new[] { ("users", new[] { "auth" }), ("projects", new[] { "api", "worker" }) })
        {
            Assert.Equal($"{{postgres.connectionString}};Database={database}", (string?)_resources[database]!["connectionString"]);
            foreach (var name in Projects)
            {
                var given = (string?)_resources[name]!["env"]![$"ConnectionStrings__{database}"];
                Assert.Equal(owners.Contains(name) ? $"{{{database}.connectionString}}" : null, given);
            }
        }
        // The store adds the server, its password (and the URI-encoded form Aspire derives from it) and the two databases.
        Assert.Equal(["postgres", "postgres-password", "postgres-password-uri-encoded", "projects", "users"],
            _resources.Select(r => r.Key).Where(key => key.StartsWith("postgres") || key is "users" or "projects").Order(StringComparer.Ordinal));
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }
}
