using System.Diagnostics;
using System.Text.RegularExpressions;
using AppHost.Tests;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Portal.Tests;

/// <summary>The portal in a real Chromium, against the whole running system, doing what its users do.</summary>
[Collection(PortalCollection.Name)]
public sealed class PortalTests(PortalFixture system)
{
    private static readonly LocatorAssertionsToHaveTextOptions Slow = new() { Timeout = 30_000 };
    private static readonly LocatorAssertionsToContainTextOptions SlowToContain = new() { Timeout = 30_000 };

    private void SkipWithoutBrowser() => Skip.If(system.Unavailable is not null, system.Unavailable);

    [SkippableFact]
    public async Task ANewUserRegistersCreatesAProjectAndDeploysAndTheRowMovesThroughEachStepLiveInOrder()
    {
        SkipWithoutBrowser();
        await using var user = await system.OpenAsync();
        await user.RegisterAsync(GatewayClient.NewEmail());
        await Expect(user.Indicator).ToHaveTextAsync("live");
        var projectId = await user.CreateProjectAsync("shop");
        var listReads = 0;
        user.Page.Request += (_, request) => listReads += request.Url.EndsWith($"/api/projects/{projectId}/deployments") && request.Method == "GET" ? 1 : 0;
        await user.WatchDeploymentsAsync();

        var deploying = Stopwatch.StartNew();
        await user.DeployAsync("main", "production");
        var badge = user.Page.Locator("#deployments li[data-deployment] .badge");
        await Expect(badge).ToHaveCountAsync(1);
        await user.Page.EvaluateAsync("() => window.layoutShift = 0"); // from here on, only live updates change the page
        await Expect(badge).ToHaveTextAsync("succeeded", Slow);
        var took = deploying.Elapsed;

        // window.badges survived, so the page was never reloaded; every step came from the stream, in order.
        await Expect(user.Page.Locator("#deployments .trail")).ToHaveTextAsync(Trail("queued", "building", "deploying", "succeeded"));
        AssertInOrder(Assert.Single(await user.BadgesAsync()).Value);
        Assert.True(took >= PortalFixture.StepDurations && took < PortalFixture.StepDurations + TimeSpan.FromSeconds(10),
            $"the deployment took {took} in the page; its steps take {PortalFixture.StepDurations}");
        // No polling: once the stream has said it finished, nothing more is read.
        var readsWhenDone = listReads;
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(readsWhenDone, listReads);
        Assert.True(await user.LayoutShiftAsync() < 0.001, $"live updates shifted the layout by {await user.LayoutShiftAsync()}: {await user.ShiftedAsync()}");
        await Expect(user.Page.Locator("#deployments li").First).ToContainTextAsync("main -> production");
        NoErrors(user);
    }

    [SkippableFact]
    public async Task AStrangerSeesNoneOfAProjectAndOnceMadeAMemberSeesItsNextDeploymentLive()
    {
        SkipWithoutBrowser();
        await using var owner = await system.OpenAsync();
        await owner.RegisterAsync(GatewayClient.NewEmail(), "Owner");
        await using var stranger = await system.OpenAsync();
        await stranger.RegisterAsync(GatewayClient.NewEmail(), "Stranger");
        var strangerId = await stranger.UserIdAsync();
        await stranger.NavLink("Live feed").ClickAsync();
        await Expect(stranger.Indicator).ToHaveTextAsync("live");

        var projectId = await owner.CreateProjectAsync("private plans");
        await owner.DeployAsync("main");
        await Expect(owner.Page.Locator("#deployments .badge")).ToHaveTextAsync("succeeded", Slow);

        await Expect(stranger.Page.Locator("#feed li[data-type=deployment_status]")).ToHaveCountAsync(0);
        await stranger.NavLink("Projects").ClickAsync();
        await Expect(stranger.Page.Locator("#projects")).Not.ToContainTextAsync("private plans");
        await stranger.Page.GotoAsync($"/projects/{projectId}");
        await Expect(stranger.Page.GetByText("You are not a member of this project.")).ToBeVisibleAsync();
        await Expect(stranger.Page.Locator("#deployments")).ToHaveCountAsync(0);

        await owner.Field("User id of the new member").FillAsync(strangerId);
        await owner.Button("Add member").ClickAsync();
        await Expect(owner.Page.Locator("#members")).ToContainTextAsync("Stranger");

        await stranger.NavLink("Projects").ClickAsync();
        await stranger.Page.GetByRole(AriaRole.Link, new() { Name = "private plans" }).ClickAsync();
        await Expect(stranger.Page.Locator("h1")).ToHaveTextAsync("private plans");
        await Expect(stranger.Page.Locator("#deployments li[data-deployment]")).ToHaveCountAsync(1);
        await stranger.WatchDeploymentsAsync();
        await owner.DeployAsync("feature/search");
        var newest = stranger.Page.Locator("#deployments li[data-deployment]").First;
        await Expect(newest).ToContainTextAsync("feature/search", SlowToContain);
        await Expect(newest.Locator(".badge")).ToHaveTextAsync("succeeded", Slow);
        await Expect(newest.Locator(".trail")).ToHaveTextAsync(Trail("queued", "building", "deploying", "succeeded"));
        AssertInOrder((await stranger.BadgesAsync())[(await newest.GetAttributeAsync("data-deployment"))!]);
        Assert.DoesNotContain(stranger.ConsoleErrors, e => !e.Contains("403")); // the refused project page is a 403
    }

    [SkippableFact]
    public async Task SignOutEverywhereInOneTabSendsTheOtherToSignInAtItsNextActionAndClosesItsStream()
    {
        SkipWithoutBrowser();
        var email = GatewayClient.NewEmail();
        using (var gateway = system.CreateGatewayClient())
        {
            await gateway.RegisterAsync(email);
        }
        await using var a = await system.OpenAsync();
        await a.SignInAsync(email);
        await using var b = await system.OpenAsync();
        await b.SignInAsync(email);
        await Expect(b.Indicator).ToHaveTextAsync("live");
        var streamRequests = 0;
        b.Page.Request += (_, request) => streamRequests += request.Url.Contains("/notifications/stream") ? 1 : 0;

        await a.NavLink("Sessions").ClickAsync();
        await Expect(a.Page.Locator("#sessions li")).ToHaveCountAsync(2);
        await a.Button("Sign out everywhere").ClickAsync();
        await a.Page.WaitForURLAsync("**/signin?next=%2Fsessions");

        await Expect(b.Indicator).ToHaveTextAsync("closed: signed out", Slow);
        var requestsWhenClosed = streamRequests;
        await b.NavLink("Sessions").ClickAsync();
        await b.Page.WaitForURLAsync("**/signin?next=%2Fsessions");
        await Expect(b.Page.Locator("#signin-message")).ToContainTextAsync("Your session has ended");
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(requestsWhenClosed, streamRequests); // closed for good: it does not try again
        await Expect(b.Indicator).ToHaveTextAsync("closed: signed out");
    }

    [SkippableFact]
    public async Task AlertsPostedWhileTheStreamIsCutArriveOnceInOrderAfterItResumesAndTheIndicatorSaysSo()
    {
        SkipWithoutBrowser();
        await using var admin = await system.OpenAsync();
        await admin.SignInAsync(system.AdminEmail, system.AdminPassword);
        await admin.NavLink("Admin").ClickAsync();
        await using var link = new TcpRelay(system.PortalAddress);
        await using var watcher = await system.OpenAsync(address: link.Address);
        await watcher.RegisterAsync(GatewayClient.NewEmail());
        await watcher.NavLink("Live feed").ClickAsync();
        await Expect(watcher.Indicator).ToHaveTextAsync("live");
        await Task.Delay(TimeSpan.FromSeconds(1)); // its resume point (the newest alert) is read just after it opens

        // The watcher's link is cut (its stream drops and every retry fails) while the admin posts the alerts.
        link.Cut();
        await Expect(watcher.Indicator).ToHaveTextAsync("reconnecting", Slow);

        var messages = Enumerable.Range(1, 3).Select(i => $"maintenance step {i} of 3 ({Guid.NewGuid():N})"[..30]).ToArray();
        foreach (var message in messages)
        {
            await admin.Field("Message").FillAsync(message);
            await admin.Field("Severity").SelectOptionAsync("warning");
            await admin.Button("Broadcast").ClickAsync();
            await Expect(admin.Page.GetByText(new Regex(@"^Sent as event \d+\.$"))).ToBeVisibleAsync();
        }
        await Expect(watcher.Indicator).ToHaveTextAsync("reconnecting");
        link.Restore();

        await Expect(watcher.Indicator).ToHaveTextAsync("resumed: 3 missed events delivered", Slow);
        var alerts = await watcher.Page.Locator("#feed li[data-type=system_alert] .name").AllInnerTextsAsync();
        Assert.Equal(messages.Reverse(), alerts.Where(messages.Contains)); // newest first, each once
    }

    [SkippableFact]
    public async Task ElevenSignInAttemptsShowACountdownAndTheFormWorksAgainWhenItEnds()
    {
        SkipWithoutBrowser();
        var email = GatewayClient.NewEmail();
        using (var gateway = system.CreateGatewayClient())
        {
            await gateway.RegisterAsync(email);
        }
        await using var visitor = await system.OpenAsync(width: 375);
        await visitor.Page.GotoAsync("/signin");

        // Keyboard only: the fields are reachable with Tab and show where the focus is.
        var email_ = visitor.Field("Email");
        for (var tabs = 0; tabs < 10 && !await email_.EvaluateAsync<bool>("e => e === document.activeElement"); tabs++)
        {
            await visitor.Page.Keyboard.PressAsync("Tab");
        }
        await Expect(email_).ToBeFocusedAsync();
        Assert.NotEqual("none", await email_.EvaluateAsync<string>("e => getComputedStyle(e).outlineStyle"));
        await visitor.Page.Keyboard.TypeAsync(email);
        await visitor.Page.Keyboard.PressAsync("Tab");
        await visitor.Page.Keyboard.TypeAsync("not the password");

        var countdown = visitor.Page.Locator(".countdown");
        var submit = visitor.Button("Sign in");
        for (var attempt = 1; attempt <= PortalFixture.SignInAttemptsPerEmail; attempt++)
        {
            await visitor.Page.Keyboard.PressAsync("Enter");
            await Expect(visitor.Page.Locator(".form-error")).ToHaveTextAsync("Wrong email or password.");
            await Expect(submit).ToBeEnabledAsync();
            await visitor.Field("Password").FocusAsync();
            await visitor.Page.Locator(".form-error").EvaluateAsync("e => e.textContent = ''");
        }

        await visitor.Page.Keyboard.PressAsync("Enter"); // the 11th
        await Expect(countdown).ToHaveTextAsync(new Regex(@"^Next attempt allowed in \d+ s$"));
        await Expect(submit).ToBeDisabledAsync();
        var first = int.Parse(Regex.Match(await countdown.InnerTextAsync(), @"\d+").Value);
        Assert.InRange(first, 1, (int)PortalFixture.SignInWindow.TotalSeconds);
        await Expect(countdown).Not.ToHaveTextAsync($"Next attempt allowed in {first} s", new() { Timeout = 3_000 }); // it counts down

        await Expect(countdown).ToHaveTextAsync("You can try again now.", Slow);
        await Expect(submit).ToBeEnabledAsync();
        await visitor.Field("Password").FillAsync(GatewayClient.Password);
        await submit.ClickAsync();
        await visitor.Page.WaitForURLAsync("**/projects");
    }

    [SkippableFact]
    public async Task AProjectNamedLikeMarkupIsShownAsTextAndNothingRuns()
    {
        SkipWithoutBrowser();
        const string name = "<img src=x onerror=alert(1)>";
        // With the Content-Security-Policy bypassed: the escaping alone must keep the markup inert.
        await using var user = await system.OpenAsync(bypassCsp: true);
        var dialogs = 0;
        user.Page.Dialog += async (_, dialog) =>
        {
            dialogs++;
            await dialog.DismissAsync();
        };
        await user.RegisterAsync(GatewayClient.NewEmail(), name);
        var projectId = await user.CreateProjectAsync(name);
        await Expect(user.Page.Locator("#members")).ToContainTextAsync(name);
        await user.NavLink("Projects").ClickAsync();
        await Expect(user.Page.GetByRole(AriaRole.Link, new() { Name = name })).ToHaveAttributeAsync("href", $"/projects/{projectId}");
        await Expect(user.Page.Locator("#whoami")).ToContainTextAsync(name);

        Assert.Equal(0, await user.Page.Locator("img").CountAsync());
        await Task.Delay(500);
        Assert.Equal(0, dialogs);
    }

    [SkippableFact]
    public async Task AFailingDeploymentIsDeadLetteredAndTheAdminsRetryRunsItAgain()
    {
        SkipWithoutBrowser();
        await using var owner = await system.OpenAsync();
        await owner.RegisterAsync(GatewayClient.NewEmail());
        await owner.CreateProjectAsync("flaky builds");
        await owner.WatchDeploymentsAsync();
        var branch = $"fail/{Guid.NewGuid():N}"[..20];
        await owner.DeployAsync(branch);

        await using var admin = await system.OpenAsync();
        await admin.SignInAsync(system.AdminEmail, system.AdminPassword);
        await admin.NavLink("Admin").ClickAsync();
        var row = admin.Page.Locator("#dead-jobs tr", new() { HasText = branch });
        await Expect(row).ToContainTextAsync($"The build of {branch} failed (simulated, attempt 2 of 2).", SlowToContain);
        await Expect(row).ToContainTextAsync("2/2");
        await Expect(admin.Page.Locator("#queue-counts tr[data-queue=deployment] td").Nth(3)).Not.ToHaveTextAsync("0");
        var jobId = await row.Locator("td").First.InnerTextAsync();

        await row.GetByRole(AriaRole.Button, new() { Name = $"Retry {jobId}" }).ClickAsync();
        await Expect(row).ToHaveCountAsync(0);
        // Back in the queue with fresh attempts: the owner's page shows it building again, live.
        await Expect(owner.Page.Locator("#deployments .trail")).ToHaveTextAsync(
            Trail("queued", "building", "failed", "queued", "building", "failed", "queued", "building"), new() { Timeout = 30_000, UseInnerText = false });
        NoErrors(admin);
    }

    [SkippableFact]
    public async Task EveryPageAt375And1280PixelsIsScreenshottedFitsTheWidthAndLogsNoErrors()
    {
        SkipWithoutBrowser();
        Directory.CreateDirectory(PortalFixture.ScreenshotDirectory);
        foreach (var width in new[] { 375, 1280 })
        {
            await using var user = await system.OpenAsync(width);
            await using var admin = await system.OpenAsync(width);
            await user.Page.GotoAsync("/signin");
            await ShotAsync(user, "signin", width);
            await user.Page.GotoAsync("/register");
            await ShotAsync(user, "register", width);

            await user.RegisterAsync(GatewayClient.NewEmail(), "Grace Hopper");
            await user.CreateProjectAsync("compiler");
            await user.DeployAsync("main", "production");
            await Expect(user.Page.Locator("#deployments .badge").First).ToHaveTextAsync("succeeded", Slow);
            await user.DeployAsync("release/1.2");
            await Expect(user.Page.Locator("#deployments .badge").First).ToHaveTextAsync("building", Slow);
            await ShotAsync(user, "project", width);

            await admin.SignInAsync(system.AdminEmail, system.AdminPassword);
            await admin.NavLink("Admin").ClickAsync();
            await admin.Field("Message").FillAsync("Deploys pause at 18:00 for maintenance");
            await admin.Button("Broadcast").ClickAsync();
            await Expect(admin.Page.GetByText(new Regex(@"^Sent as event \d+\.$"))).ToBeVisibleAsync();
            await Expect(admin.Page.Locator("#queue-counts tr")).ToHaveCountAsync(3);
            await ShotAsync(admin, "admin", width);

            await user.NavLink("Projects").ClickAsync();
            await Expect(user.Page.Locator("#projects li")).ToHaveCountAsync(1);
            await ShotAsync(user, "projects", width);
            await user.NavLink("Live feed").ClickAsync();
            await Expect(user.Page.Locator("#feed li[data-type=system_alert]").First).ToBeVisibleAsync();
            await ShotAsync(user, "feed", width);
            await user.NavLink("Sessions").ClickAsync();
            await Expect(user.Page.Locator("#sessions li")).ToHaveCountAsync(1);
            await ShotAsync(user, "sessions", width);

            NoErrors(user);
            NoErrors(admin);
        }
    }

    /// <summary>The steps a deployment row lists from its events: exactly these, or these and more after them.</summary>
    private static Regex Trail(params string[] steps) => new($"^live: {Regex.Escape(string.Join(" -> ", steps))}( -> .*)?$");

    /// <summary>The badge only ever moved forward through the steps ("running": the job was taken before its first event).</summary>
    private static void AssertInOrder(string[] states)
    {
        string[] order = ["running", "queued", "building", "deploying", "succeeded"];
        var positions = states.Select(s => Array.IndexOf(order, s)).ToArray();
        Assert.True(positions.All(p => p >= 0) && positions.Zip(positions.Skip(1)).All(p => p.First < p.Second) && states[^1] == "succeeded",
            $"the badge showed {string.Join(", ", states)}");
    }

    private static void NoErrors(PortalPage portal) =>
        Assert.True(portal.ConsoleErrors.Count == 0, $"The page logged errors:\n{string.Join("\n", portal.ConsoleErrors)}");

    /// <summary>A full-page screenshot into the test results, after checking nothing is wider than the window.</summary>
    private static async Task ShotAsync(PortalPage portal, string name, int width)
    {
        await Expect(portal.Page.Locator("main h1")).ToBeVisibleAsync();
        var overflow = await portal.Page.EvaluateAsync<int>("() => document.documentElement.scrollWidth - window.innerWidth");
        var wide = await portal.Page.EvaluateAsync<string>("""
            () => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                .map(e => `${e.tagName}.${e.className}#${e.id} ${Math.round(e.getBoundingClientRect().right)}`).join(', ')
            """);
        Assert.True(overflow <= 0, $"{name} at {width} px is {overflow} px wider than the window: {wide}");
        await portal.Page.ScreenshotAsync(new() { Path = Path.Combine(PortalFixture.ScreenshotDirectory, $"{name}-{width}.png"), FullPage = true });
    }
}
