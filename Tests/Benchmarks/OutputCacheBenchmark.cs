using System.Net;
using Api.Caching;
using Api.Projects;
using Api.Users;
using Benchmarks.Harness;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Platform.Caching;
using Platform.Hosting;
using Platform.Sessions;

namespace Benchmarks;

/// <summary>
/// The api's <c>GET /api/projects</c> over real HTTP on loopback, 64 connections: answered from the Redis output
/// cache, the same endpoint with the cache middleware left out (session check, then SQLite), and a constant
/// answer of the same bytes with no authentication (the HTTP stack's ceiling in this process). The endpoints,
/// session authentication and cache are the api's own code; the app and the load generator share this process.
/// </summary>
public static class OutputCacheBenchmark
{
    public const string Name = "output-cache";
    private const int Connections = 64;
    private const int Projects = 10;

    public static async Task RunAsync(BenchmarkContext context)
    {
        var folder = Directory.CreateTempSubdirectory("output-cache-bench-");
        var database = Path.Combine(folder.FullName, "projects.db");
        var constantBody = Array.Empty<byte>();
        await using var cached = await StartApiAsync(context, database, cache: true, () => constantBody);
        await using var uncached = await StartApiAsync(context, database, cache: false, () => constantBody);
        try
        {
            var token = await SeedAsync(cached.App);
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Connections, UseCookies = false });
            constantBody = await (await SendAsync(http, uncached.Address, "/api/projects", token)).Content.ReadAsByteArrayAsync();
            // Stored once before measuring, so that every measured (and warm-up) request of that row is a HIT.
            using (var first = await SendAsync(http, cached.Address, "/api/projects", token))
            {
                await first.Content.LoadIntoBufferAsync();
            }

            var rows = new (string Name, Uri Address, string Path, string? Token, string? Expect)[]
            {
                ("constant bytes, no auth (ceiling)", cached.Address, "/constant", null, null),
                ("GET /api/projects, output cache (HIT)", cached.Address, "/api/projects", token, "HIT"),
                ("GET /api/projects, no output cache", uncached.Address, "/api/projects", token, null),
            };
            var table = new MarkdownTable("endpoint", "connections", "requests/s", "x ceiling", "p50 µs", "p99 µs", "unexpected answers");
            double? ceiling = null;
            foreach (var (name, address, path, rowToken, expect) in rows)
            {
                var unexpected = 0L;
                var result = await LoadRunner.RunAsync(Connections, context.Duration, context.Warmup, async () =>
                {
                    using var response = await SendAsync(http, address, path, rowToken);
                    await response.Content.LoadIntoBufferAsync();
                    var cache = response.Headers.TryGetValues(CallerAwareCachePolicy.CacheHeader, out var values) ? values.Single() : null;
                    if (response.StatusCode != HttpStatusCode.OK || cache != expect || response.Content.Headers.ContentLength != constantBody.Length)
                    {
                        Interlocked.Increment(ref unexpected);
                    }
                });
                ceiling ??= result.OpsPerSecond;
                table.Add(name, Connections, result.OpsPerSecond, result.OpsPerSecond / ceiling.Value, result.P50Micros, result.P99Micros, unexpected);
            }
            context.Print($"## {Name}: {Projects} projects in the listing ({constantBody.Length} bytes), real HTTP/1.1 over loopback", table);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            folder.Delete(recursive: true);
        }
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient http, Uri address, string path, string? token)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, new Uri(address, path));
        if (token is not null)
        {
            request.Headers.Authorization = new("Bearer", token);
        }
        return http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    /// <summary>A user who owns <see cref="Projects"/> projects, and a session token of theirs.</summary>
    private static async Task<string> SeedAsync(WebApplication app)
    {
        var userId = Guid.NewGuid().ToString("N")[..12];
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ProjectsDb>();
            for (var i = 0; i < Projects; i++)
            {
                var project = new Project { Name = $"project {i}", OwnerId = userId, CreatedAt = DateTimeOffset.UtcNow };
                project.Members.Add(new ProjectMember { UserId = userId, Role = ProjectRoles.Owner, AddedAt = project.CreatedAt });
                db.Projects.Add(project);
            }
            await db.SaveChangesAsync();
        }
        var session = await app.Services.GetRequiredService<SessionStore>()
            .CreateAsync(new SessionUser(userId, "bench@example.com", "Bench", ["user"], "user"), "bench");
        return session.Token;
    }

    private sealed record RunningApi(WebApplication App, Uri Address) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }
    }

    /// <summary>The api's composition (Services/Api/Program.cs) without the gateway routes and rate limits.</summary>
    private static async Task<RunningApi> StartApiAsync(BenchmarkContext context, string database, bool cache, Func<byte[]> constant)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "api" });
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        builder.Configuration["ConnectionStrings:redis"] = context.Server.ConnectionString;
        builder.Configuration["ConnectionStrings:projects"] = $"Data Source={database}";
        builder.AddPlatformRedis();
        builder.AddSessionAuthentication();
        builder.AddApiOutputCache();
        builder.AddProjects();
        builder.AddUserProfiles();

        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        if (cache)
        {
            app.UseOutputCache();
        }
        app.MapProjectsApi();
        app.MapGet("/constant", () => Results.Bytes(constant(), "application/json; charset=utf-8"));
        await app.InitializeProjectsAsync();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features
            .GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new RunningApi(app, new Uri(address));
    }
}
