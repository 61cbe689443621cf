using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using AppHost.Tests;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Portal.Tests;

/// <summary>
/// The README's dashboard pictures, taken from the running system: its resources, the trace of one deployment (the
/// request, its building blocks, the job, the notifier's deliveries) and one building block's metrics. They are written
/// to TestResults/screenshots (dashboard-*.png) and copied by hand to docs/.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardScreenshotTests(DashboardFixture system)
{
    private static readonly LocatorAssertionsToBeVisibleOptions Slow = new() { Timeout = 60_000 };

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

        await page.GotoAsync("/");
        foreach (var resource in DistributedAppFixture.Services.Prepend("redis"))
        {
            await Expect(page.GetByText(resource, new() { Exact = true }).First).ToBeVisibleAsync(Slow);
        }
        await Expect(page.GetByText("No trusted development certificate")).ToHaveCountAsync(0);
        await ShotAsync(page, "resources");

        var traceId = await DeployAsync();
        await page.GotoAsync($"/traces/detail/{traceId}");
        await Expect(page.GetByText("notify deliver deployment_status").First).ToBeVisibleAsync(Slow);
        await page.WaitForTimeoutAsync(2000); // the last spans of the trace are drawn
        await ShotAsync(page, "deployment-trace");

        await page.GotoAsync("/metrics/resource/worker?meter=Platform.Jobs&instrument=jobs.claims&duration=5&view=Graph");
        await Expect(page.GetByText("jobs.claims").First).ToBeVisibleAsync(Slow);
        await page.WaitForTimeoutAsync(5000); // the graph is drawn
        await ShotAsync(page, "jobs-metrics");
        await context.DisposeAsync();
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
