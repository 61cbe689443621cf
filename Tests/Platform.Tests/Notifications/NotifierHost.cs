using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Platform.Hosting;
using Platform.Notifications;
using Platform.Sessions;
using Platform.Tests.Redis;

namespace Platform.Tests.Notifications;

/// <summary>
/// A notifier process as the Notifier service composes it (AddPlatformRedis, AddSessionAuthentication,
/// AddNotificationStream, MapNotificationsApi) on a real Kestrel loopback port against the fixture's real server,
/// with settings a test can shorten and a membership source the test controls.
/// </summary>
internal sealed class NotifierHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private NotifierHost(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
        Client = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = address, Timeout = Timeout.InfiniteTimeSpan };
    }

    public Uri Address { get; }
    public HttpClient Client { get; }
    public NotificationHub Hub => _app.Services.GetRequiredService<NotificationHub>();
    public NotificationPublisher Publisher => _app.Services.GetRequiredService<NotificationPublisher>();
    public SessionStore Sessions => _app.Services.GetRequiredService<SessionStore>();
    public ProjectMemberCache Members => _app.Services.GetRequiredService<ProjectMemberCache>();

    /// <param name="configure">Anything more the test composes into the host (its telemetry, say).</param>
    public static async Task<NotifierHost> StartAsync(string connectionString, IProjectMembership membership,
        IDictionary<string, string?>? settings = null, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = connectionString,
            ["Aspire:StackExchange:Redis:DisableHealthChecks"] = "true",
        });
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }
        builder.AddPlatformRedis();
        builder.AddSessionAuthentication();
        builder.AddNotificationStream();
        builder.Services.AddSingleton(membership);
        builder.Services.AddProblemDetails();
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapNotificationsApi();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new NotifierHost(app, new Uri(address));
    }

    /// <summary>Signs a user in (a real session in Redis) and returns the token.</summary>
    public async Task<string> SignInAsync(string userId, bool admin = false)
    {
        var roles = admin ? new[] { "admin" } : [];
        var created = await Sessions.CreateAsync(new SessionUser(userId, $"{userId}@example.com", userId, roles, admin ? "admin" : "user"), "tests");
        return created.Token;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(timeout.Token);
        await _app.DisposeAsync();
    }
}

/// <summary>Project membership the test decides: who belongs to which project, and how often it was asked.</summary>
internal sealed class FakeMembership : IProjectMembership
{
    private readonly ConcurrentDictionary<(string User, string Project), bool> _members = new();
    private int _loads;

    public int Loads => Volatile.Read(ref _loads);

    /// <summary>How long each load takes, as a call to api would.</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>When set, every load fails with this (as when api cannot be reached).</summary>
    public Exception? Failure { get; set; }

    public void Add(string userId, string projectId) => _members[(userId, projectId)] = true;
    public void Remove(string userId, string projectId) => _members.TryRemove((userId, projectId), out _);

    public async Task<IReadOnlySet<string>?> LoadMembersAsync(string projectId, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _loads);
        if (Latency > TimeSpan.Zero)
        {
            await Task.Delay(Latency, cancellationToken);
        }
        if (Failure is { } failure)
        {
            throw failure;
        }
        return _members.Keys.Where(k => k.Project == projectId).Select(k => k.User).ToHashSet();
    }
}
