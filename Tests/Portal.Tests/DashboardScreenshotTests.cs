using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using AppHost.Tests;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace Portal.Tests;

/// <summary>
/// The README's dashboard pictures, taken from the running system: its resources, the trace of one deployment (the
/// request, its building blocks, the job, the notifier's deliveries) and one building block's metrics. They are written
/// to TestResults/screenshots (dashboard-*.png) and copied by hand to docs/.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardScreenshotTests(DashboardFixture system, ITestOutputHelper output)
{
    [SkippableFact]
    public async Task TheDashboardShowsTheResourcesADeploymentsTraceAndTheJobQueuesClaims()
    {
        Skip.If(system.Unavailable is not null, system.Unavailable);
        Directory.CreateDirectory(PortalFixture.ScreenshotDirectory);
        var context = await system.Browser.NewContextAsync(new()
        {
            BaseURL = system.DashboardAddress.ToString().TrimEnd('/'),
            ViewportSize = new() { Width = 1600, Height = 1000 },
        });
        context.SetDefaultTimeout(30_000);
        var page = await context.NewPageAsync();
        page.Console += (_, message) => output.WriteLine($"browser console {message.Type}: {message.Text}");
        page.PageError += (_, error) => output.WriteLine($"browser page error: {error}");
        using (var running = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            await system.App.ResourceNotifications.WaitForResourceAsync("aspire-dashboard", KnownResourceStates.Running, running.Token);
        }

        await OpenAsync(page, "/", DistributedAppFixture.Services.Prepend("redis").Select(name => page.GetByText(name, new() { Exact = true }).First));
        await Expect(page.GetByText("No trusted development certificate")).ToHaveCountAsync(0);
        await ShotAsync(page, "resources");

        var traceId = await DeployAsync();
        await OpenAsync(page, $"/traces/detail/{traceId}", [page.GetByText("notify deliver deployment_status").First]);
        await page.WaitForTimeoutAsync(2000); // the last spans of the trace are drawn
        await ShotAsync(page, "deployment-trace");

        await OpenAsync(page, "/metrics/resource/worker?meter=Platform.Jobs&instrument=jobs.claims&duration=5&view=Graph",
            [page.GetByText("jobs.claims").First]);
        await page.WaitForTimeoutAsync(5000); // the graph is drawn
        await ShotAsync(page, "jobs-metrics");
        await context.DisposeAsync();
    }

    /// <summary>
    /// Opens one of the dashboard's pages and waits until every one of <paramref name="shown"/> is visible. The dashboard
    /// is Aspire's Blazor app: once in CI (a loaded two-core machine) its first page's circuit failed, showing "An
    /// unhandled error has occurred. Reload" and no resources. A user presses Reload; the test does too, at most twice,
    /// writing the dashboard's own log to its output each time, and fails if the page never shows what it should.
    /// </summary>
    private async Task OpenAsync(IPage page, string path, IEnumerable<ILocator> shown)
    {
        var failed = page.GetByText("An unhandled error has occurred.");
        for (var attempt = 1; ; attempt++)
        {
            await page.GotoAsync(path);
            // The error banner is always on the page, hidden until the circuit fails: this finds it.
            await Expect(failed).ToHaveCountAsync(1);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (!await failed.IsVisibleAsync())
            {
                if ((await Task.WhenAll(shown.Select(locator => locator.IsVisibleAsync()))).All(visible => visible))
                {
                    return;
                }
                if (DateTime.UtcNow > deadline)
                {
                    await WriteDashboardLogAsync();
                    Assert.Fail($"{path} did not show what it should within 60 s (attempt {attempt}); the dashboard's log is in the test's output.");
                }
                await page.WaitForTimeoutAsync(250);
            }
            output.WriteLine($"{path}: the dashboard's circuit failed (attempt {attempt}); its log so far:");
            await WriteDashboardLogAsync();
            Assert.True(attempt < 3, $"{path}: the dashboard's circuit failed {attempt} times; its log is in the test's output.");
        }
    }

    private async Task WriteDashboardLogAsync()
    {
        var id = system.App.ResourceNotifications.TryGetCurrentState("aspire-dashboard", out var state) ? state.ResourceId : "aspire-dashboard";
        await foreach (var lines in system.App.Services.GetRequiredService<ResourceLoggerService>().GetAllAsync(id))
        {
            foreach (var line in lines)
            {
                output.WriteLine($"dashboard: {line.Content}");
            }
        }
    }

    /// <summary>One deployment through the gateway, watched on a stream, in a trace the test names; returns its id.</summary>
    private async Task<string> DeployAsync()
    {
        using var gateway = system.CreateGatewayClient();
        gateway.Timeout = TimeSpan.FromSeconds(60);
        var owner = await GatewayClient.SignedInAsync(gateway);
        var project = await gateway.CreateProjectAsync(owner.Token, "shop");
        using var stream = new HttpRequestMessage(HttpMethod.Get, "/notifications/stream");
        stream.Headers.Authorization = new AuthenticationHeaderValue("Bearer", owner.Token);
        using var events = await gateway.SendAsync(stream, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await events.Content.ReadAsStreamAsync());

        var traceId = ActivityTraceId.CreateRandom().ToHexString();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/projects/{project.Id}/deployments")
        {
            Content = JsonContent.Create(new { branch = "main", environment = "production" }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", owner.Token);
        request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");
        using var response = await gateway.SendAsync(request);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (await reader.ReadLineAsync(timeout.Token) is { } line && !line.Contains("\"succeeded\"", StringComparison.Ordinal))
        {
        }
        return traceId;
    }

    private static Task ShotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new() { Path = Path.Combine(PortalFixture.ScreenshotDirectory, $"dashboard-{name}.png") });
}
