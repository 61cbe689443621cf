using System.Data.Common;
using System.Net.Http.Json;
using Api.Caching;
using Api.Outbox;
using Api.Projects;
using Api.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Platform.Hosting;
using Platform.Jobs;
using Platform.Notifications;
using Platform.Sessions;
using Platform.Tests.Redis;

namespace Platform.Tests.Api;

/// <summary>
/// The api as Services/Api/Program.cs composes it (without the gateway routes and the limiter), on a real Kestrel
/// loopback port, against a real Redis and a projects store (a SQLite file or a PostgreSQL database) that outlives the
/// host: starting a second host on the same store is the api restarting. <see cref="Fault"/> makes the store fail where a test says.
/// </summary>
internal sealed class ApiHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ApiHost(WebApplication app, Uri address, StoreFault fault)
    {
        _app = app;
        Fault = fault;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(15) };
    }

    public HttpClient Client { get; }
    public StoreFault Fault { get; }
    public JobQueue Jobs => _app.Services.GetRequiredService<JobQueue>();

    /// <param name="projects">The projects connection string: <c>Data Source=file</c> or a PostgreSQL one.</param>
    /// <param name="queues">The job queues this api serves (default: deployment, provision, email).</param>
    public static async Task<ApiHost> StartAsync(RedisServerProcess server, string projects, string[]? queues = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "api" });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = server.ConnectionString,
            ["ConnectionStrings:projects"] = projects,
            ["Aspire:StackExchange:Redis:DisableHealthChecks"] = "true",
            // Only the start-up pass and the pass after each commit: a test decides when the outbox is sent.
            ["Projects:OutboxPollInterval"] = "01:00:00",
        });
        builder.AddPlatformRedis();
        builder.AddSessionAuthentication();
        builder.AddApiOutputCache();
        builder.AddProjects();
        builder.AddUserProfiles();
        builder.AddJobQueue(options => options.Queues.AddRange(queues ?? ["deployment", "provision", "email"]));
        builder.AddNotificationPublisher();
        builder.Services.AddProblemDetails();
        var fault = new StoreFault();
        // The service registers one of the two; the other's configuration is never used.
        builder.Services.ConfigureDbContext<SqliteProjectsDb>((_, options) => options.AddInterceptors(fault, fault.Commands));
        builder.Services.ConfigureDbContext<PostgresProjectsDb>((_, options) => options.AddInterceptors(fault, fault.Commands));

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseOutputCache();
        app.MapProjectsApi();
        app.MapOutboxApi();
        await app.InitializeProjectsAsync();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new ApiHost(app, new Uri(address), fault);
    }

    public async Task<string> SignInAsync(string userId, string role = "user") =>
        (await _app.Services.GetRequiredService<SessionStore>()
            .CreateAsync(new SessionUser(userId, $"{userId}@example.com", userId, [role], role), "tests")).Token;

    /// <summary>Writes a message straight into the outbox, as a transaction of this or another replica would have left it.</summary>
    public async Task<long> AddOutboxMessageAsync(OutboxMessage message)
    {
        await using var scope = _app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ProjectsDb>();
        db.OutboxMessages.Add(message);
        await db.SaveChangesAsync();
        return message.Id;
    }

    public async Task<HttpResponseMessage> CreateProjectAsync(string token, string name)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/projects") { Content = JsonContent.Create(new { name }) };
        request.Headers.Authorization = new("Bearer", token);
        return await Client.SendAsync(request);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(timeout.Token);
        await _app.DisposeAsync();
    }
}

/// <summary>Where the projects store fails, once a test arms it (start-up creates tables in transactions of its own).</summary>
internal sealed class StoreFault : DbTransactionInterceptor
{
    public enum Point { None, Commit, JustAfterCommit, OutboxDeletes }

    public volatile Point Armed;
    public DbCommandInterceptor Commands => new DeleteFault(this);

    public override ValueTask<InterceptionResult> TransactionCommittingAsync(DbTransaction transaction, TransactionEventData eventData,
        InterceptionResult result, CancellationToken cancellationToken = default) =>
        Armed == Point.Commit ? throw new IOException("disk I/O error (injected at commit)") : ValueTask.FromResult(result);

    public override Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default) =>
        // The process dies right after the commit: nothing after it runs (the request fails instead).
        Armed == Point.JustAfterCommit ? throw new IOException("process killed (injected after commit)") : Task.CompletedTask;

    private sealed class DeleteFault(StoreFault fault) : DbCommandInterceptor
    {
        public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(DbCommand command, CommandEventData eventData,
            InterceptionResult<int> result, CancellationToken cancellationToken = default) =>
            fault.Armed == Point.OutboxDeletes && command.CommandText.Contains("DELETE FROM \"OutboxMessages\"", StringComparison.Ordinal)
                ? throw new IOException("process killed (injected before the sent message was deleted)")
                : ValueTask.FromResult(result);
    }
}
