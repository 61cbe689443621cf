using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Platform.Caching;
using StackExchange.Redis;

namespace Platform.Tests.Caching;

/// <summary>
/// A real ASP.NET Core app on a loopback port with the Redis output cache on the given connection. Its endpoints
/// count how often they run, so tests see whether an answer came from the cache or from "the store".
/// The caller is whoever the <c>X-Test-User</c> header names (the authentication a real app would have).
/// </summary>
internal sealed class CachedApp : IAsyncDisposable
{
    public const string PerCaller = "per-caller";
    private const string HandledHeader = "X-Test-Request";
    public static readonly TimeSpan SlowRead = TimeSpan.FromSeconds(1);
    private readonly WebApplication _app;
    private readonly MeterListener _listener = new();

    private CachedApp(WebApplication app, Uri address)
    {
        _app = app;
        Http = new HttpClient { BaseAddress = address };
        var meters = app.Services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == OutputCacheTelemetry.Name && instrument.Meter.Scope == meters)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var label = tags.Length > 0 ? $"{tags[0].Key}={tags[0].Value}" : "";
            Measurements.AddOrUpdate($"{instrument.Name}:{label}", value, (_, sum) => sum + value);
        });
        _listener.Start();
    }

    public HttpClient Http { get; }
    public ConcurrentDictionary<string, int> Runs { get; } = new();
    /// <summary>The store of record behind <c>/gated/{id}</c>: what a write commits and a load reads.</summary>
    public ConcurrentDictionary<string, string> Values { get; } = new();
    private ConcurrentDictionary<string, LoadGate> Gates { get; } = new();
    private ConcurrentDictionary<string, TaskCompletionSource> Handling { get; } = new();
    /// <summary>Sums of this app's Platform.Caching counters, by "instrument:first tag", e.g. <c>outputcache.fail_open:operation=get</c>.</summary>
    public ConcurrentDictionary<string, long> Measurements { get; } = new();
    public IOutputCacheStore Store => _app.Services.GetRequiredService<IOutputCacheStore>();

    public long Measured(string key) => Measurements.GetValueOrDefault(key);

    public static async Task<CachedApp> StartAsync(IConnectionMultiplexer redis)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "cachetest" });
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(redis);
        builder.AddRedisOutputCache(options =>
            options.AddPolicy(PerCaller, CallerAwareCachePolicy.PerCaller(PerCaller, TimeSpan.FromMinutes(1))));

        var app = builder.Build();
        CachedApp? self = null;
        // The client has the whole answer before the server is done with the request: the middleware stores the entry
        // after the body is written. GetAsync waits for this, so what a test does next never races with that store.
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            finally
            {
                if (self!.Handling.TryRemove(context.Request.Headers[HandledHeader].ToString(), out var handled))
                {
                    handled.SetResult();
                }
            }
        });
        app.Use((context, next) =>
        {
            if (context.Request.Headers["X-Test-User"].ToString() is { Length: > 0 } user)
            {
                context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, user)], "test"));
            }
            return next(context);
        });
        app.UseOutputCache();
        app.MapGet("/items/{id}", (string id, HttpContext context) =>
        {
            var run = self!.Runs.AddOrUpdate(id, 1, (_, n) => n + 1);
            OutputCacheTags.Add(context, $"item:{id}");
            return ETaggedJson.Ok(new { id, caller = context.User.FindFirstValue(ClaimTypes.NameIdentifier), run });
        }).CacheOutput(PerCaller);
        // A slow store read: the case stampede protection is for.
        app.MapGet("/slow/{id}", async (string id, HttpContext context) =>
        {
            var run = self!.Runs.AddOrUpdate(id, 1, (_, n) => n + 1);
            await Task.Delay(SlowRead);
            return ETaggedJson.Ok(new { id, run });
        }).CacheOutput(PerCaller);
        // A load that reads its value, then waits on the test's gate (if one is set) before it answers: the window
        // in which a concurrent write can commit and evict.
        app.MapGet("/gated/{id}", async (string id, HttpContext context) =>
        {
            self!.Runs.AddOrUpdate(id, 1, (_, n) => n + 1);
            var value = self.Values[id];
            OutputCacheTags.Add(context, $"item:{id}");
            if (self.Gates.TryRemove(id, out var gate))
            {
                gate.Loaded.SetResult();
                await gate.Release.Task;
            }
            return ETaggedJson.Ok(new { id, value });
        }).CacheOutput(PerCaller);
        app.MapGet("/missing/{id}", (string id) =>
        {
            self!.Runs.AddOrUpdate(id, 1, (_, n) => n + 1);
            return Results.Problem(statusCode: 404, title: "No such item");
        }).CacheOutput(PerCaller);
        app.MapGet("/cookie/{id}", (string id, HttpContext context) =>
        {
            self!.Runs.AddOrUpdate(id, 1, (_, n) => n + 1);
            context.Response.Cookies.Append("flavour", "oat");
            return Results.Ok(new { id });
        }).CacheOutput(PerCaller);

        await app.StartAsync();
        var address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        self = new CachedApp(app, new Uri(address));
        return self;
    }

    /// <summary>Makes the next load of <c>/gated/{id}</c> stop after reading its value, until <see cref="LoadGate.Release"/> is set.</summary>
    public LoadGate GateNextLoad(string id) => Gates[id] = new LoadGate();

    public sealed class LoadGate
    {
        public TaskCompletionSource Loaded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public async Task<(HttpStatusCode Status, string? Cache, string Body)> GetAsync(string path, string? user = "alice")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (user is not null)
        {
            request.Headers.Add("X-Test-User", user);
        }
        var id = Guid.NewGuid().ToString("N");
        var handled = Handling[id] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        request.Headers.Add(HandledHeader, id);
        using var response = await Http.SendAsync(request);
        var answer = (response.StatusCode, response.Headers.TryGetValues(CallerAwareCachePolicy.CacheHeader, out var cache) ? cache.Single() : null,
            await response.Content.ReadAsStringAsync());
        await handled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        return answer;
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
