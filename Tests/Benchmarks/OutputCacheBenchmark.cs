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
using Platform.Jobs;
using Platform.Notifications;
using Platform.Sessions;

namespace Benchmarks;

/// <summary>
/// The api's <c>GET /api/projects</c> over real HTTP on loopback, 64 connections: answered from the Redis output
/// cache, the same endpoint with the cache middleware left out (session check, then SQLite), and a constant
/// answer of the same bytes with no authentication (the HTTP stack's ceiling in this process), and that constant
/// behind the session check (one Redis round trip; a cached read adds the cache's GET). The endpoints,
/// session authentication and cache are the api's own code; the app and the load generator share this process.
/// </summary>
public static class OutputCacheBenchmark
{
    public const string Name = "output-cache";
    private const int Connections = 64;
    private const int Projects = 10;
    private const int Rounds = 5;

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
                ("constant bytes, session checked", cached.Address, "/constant-signed-in", token, null),
                ("GET /api/projects, output cache (HIT)", cached.Address, "/api/projects", token, "HIT"),
                ("GET /api/projects, no output cache", uncached.Address, "/api/projects", token, null),
            };
            // The rows take turns in short rounds, so that load from elsewhere on the machine falls on all of them
            // alike and the ratios hold even when absolute figures move.
            var operations = rows.Select(row => Request(http, row.Address, row.Path, row.Token, row.Expect, () => constantBody.Length)).ToList();
            foreach (var (operation, _) in operations)
            {
                await LoadRunner.RunAsync(Connections, context.Warmup, TimeSpan.Zero, operation);
            }
            var rounds = operations.Select(_ => new List<LoadResult>()).ToList();
            for (var round = 0; round < Rounds; round++)
            {
                for (var i = 0; i < operations.Count; i++)
                {
                    rounds[i].Add(await LoadRunner.RunAsync(Connections, context.Duration / Rounds, TimeSpan.Zero, operations[i].Run));
                }
            }

            var table = new MarkdownTable("endpoint", "connections", "requests/s", "x ceiling", "p50 µs", "p99 µs", "unexpected answers");
            var ceiling = Throughput(rounds[0]);
            for (var i = 0; i < rows.Length; i++)
            {
                table.Add(rows[i].Name, Connections, Throughput(rounds[i]), Throughput(rounds[i]) / ceiling,
                    Median(rounds[i].Select(r => r.P50Micros)), Median(rounds[i].Select(r => r.P99Micros)), operations[i].Unexpected());
            }
            context.Print($"## {Name}: {Projects} projects in the listing ({constantBody.Length} bytes), real HTTP/1.1 over loopback, " +
                $"{Rounds} alternating rounds per row (p50/p99: median of the rounds')", table);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            folder.Delete(recursive: true);
        }
    }

    private static double Throughput(List<LoadResult> rounds) =>
        rounds.Sum(r => r.Operations) / rounds.Sum(r => r.Elapsed.TotalSeconds);

    private static double Median(IEnumerable<double> values) => values.Order().ElementAt(Rounds / 2);

    /// <summary>One request of a row, and a count of answers that were not what the row measures (warm-up included).</summary>
    private static (Func<Task> Run, Func<long> Unexpected) Request(HttpClient http, Uri address, string path, string? token, string? expect, Func<int> length)
    {
        var unexpected = 0L;
        return (async () =>
        {
            using var response = await SendAsync(http, address, path, token);
            await response.Content.LoadIntoBufferAsync();
            var cache = response.Headers.TryGetValues(CallerAwareCachePolicy.CacheHeader, out var values) ? values.Single() : null;
            if (response.StatusCode != HttpStatusCode.OK || cache != expect || response.Content.Headers.ContentLength != length())
            {
                Interlocked.Increment(ref unexpected);
            }
        }, () => Interlocked.Read(ref unexpected));
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
        // Creating projects enqueues jobs and publishes an event; the benchmark reads only, but the endpoints need them.
        builder.AddJobQueue(options => options.Queues.AddRange(["deployment", "provision", "email"]));
        builder.AddNotificationPublisher();

        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        if (cache)
        {
            app.UseOutputCache();
        }
        app.MapProjectsApi();
        app.MapGet("/constant", () => Results.Bytes(constant(), "application/json; charset=utf-8"));
        // The same, behind the session check every api read pays (one Redis round trip): where the cached read's cost goes.
        app.MapGet("/constant-signed-in", () => Results.Bytes(constant(), "application/json; charset=utf-8")).RequireAuthorization();
        await app.InitializeProjectsAsync();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features
            .GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new RunningApi(app, new Uri(address));
    }
}
