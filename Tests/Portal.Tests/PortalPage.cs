using System.Text.RegularExpressions;
using AppHost.Tests;
using Microsoft.Playwright;

namespace Portal.Tests;

/// <summary>One browser profile on the portal, and what a person does there, by the labels they read.</summary>
public sealed partial class PortalPage(IBrowserContext context, IPage page) : IAsyncDisposable
{
    private readonly List<string> _consoleErrors = Listen(page);

    public IBrowserContext Context => context;
    public IPage Page => page;

    /// <summary>Errors the page logged (script errors, CSP violations, failed requests), with where they came from.</summary>
    public IReadOnlyList<string> ConsoleErrors => _consoleErrors;

    /// <summary>The stream indicator in the header: live, reconnecting, resumed: N missed events delivered, ...</summary>
    public ILocator Indicator => page.Locator("#stream-state");

    public ILocator Field(string label) => page.GetByLabel(label, new() { Exact = true });

    public ILocator Button(string name) => page.GetByRole(AriaRole.Button, new() { Name = name, Exact = true });

    public ILocator NavLink(string name) => page.GetByRole(AriaRole.Navigation).GetByRole(AriaRole.Link, new() { Name = name, Exact = true });

    public async Task RegisterAsync(string email, string name = "Ada Lovelace", string password = GatewayClient.Password)
    {
        await page.GotoAsync("/register");
        await Field("Name").FillAsync(name);
        await Field("Email").FillAsync(email);
        await Field("Password").FillAsync(password);
        await Button("Create account").ClickAsync();
        await page.WaitForURLAsync("**/projects");
    }

    public async Task SignInAsync(string email, string password = GatewayClient.Password)
    {
        await page.GotoAsync("/signin");
        await Field("Email").FillAsync(email);
        await Field("Password").FillAsync(password);
        await Button("Sign in").ClickAsync();
        await page.WaitForURLAsync("**/projects");
    }

    /// <summary>Creates a project from the projects page; returns its id (the page it lands on).</summary>
    public async Task<string> CreateProjectAsync(string name)
    {
        await page.GotoAsync("/projects");
        await Field("New project name").FillAsync(name);
        await Button("Create").ClickAsync();
        await page.WaitForURLAsync(ProjectUrl());
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync(name);
        // Fully drawn: its members (names read from the profiles) and its deployments.
        await Assertions.Expect(page.Locator("#members li")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#deployments li")).ToHaveTextAsync("No deployments yet.");
        return page.Url.Split('/')[^1];
    }

    public async Task DeployAsync(string branch, string environment = "staging")
    {
        await Field("Branch").FillAsync(branch);
        await Field("Environment").SelectOptionAsync(environment);
        await Button("Deploy").ClickAsync();
    }

    /// <summary>The signed-in user's id, as the header shows it.</summary>
    public async Task<string> UserIdAsync()
    {
        await Assertions.Expect(page.Locator("#whoami")).ToContainTextAsync("id ");
        return UserId().Match(await page.Locator("#whoami").InnerTextAsync()).Groups[1].Value;
    }

    /// <summary>
    /// From now on, records every state each deployment row's badge shows, in order (a MutationObserver; SSE messages
    /// arrive as separate tasks, so no state is skipped), and the layout shift of anything the user did not cause.
    /// </summary>
    public Task WatchDeploymentsAsync() => page.EvaluateAsync("""
        () => {
          window.badges = {};
          window.layoutShift = 0;
          const record = () => {
            for (const row of document.querySelectorAll('#deployments li[data-deployment]')) {
              const states = (window.badges[row.dataset.deployment] ??= []);
              const state = row.querySelector('.badge').textContent;
              if (states[states.length - 1] !== state) states.push(state);
            }
          };
          new MutationObserver(record).observe(document.getElementById('main'), { subtree: true, childList: true, characterData: true });
          new PerformanceObserver(list => {
            for (const entry of list.getEntries()) if (!entry.hadRecentInput) {
              window.layoutShift += entry.value;
              window.shifted = (window.shifted ?? []).concat(entry.sources.map(s => `${s.node?.nodeName}#${s.node?.id}.${s.node?.className} ${JSON.stringify(s.previousRect)} -> ${JSON.stringify(s.currentRect)}`));
            }
          }).observe({ type: 'layout-shift' });
          record();
        }
        """);

    /// <summary>deployment id -> the badge states seen, in order.</summary>
    public Task<Dictionary<string, string[]>> BadgesAsync() => page.EvaluateAsync<Dictionary<string, string[]>>("() => window.badges");

    public Task<double> LayoutShiftAsync() => page.EvaluateAsync<double>("() => window.layoutShift");

    public Task<string> ShiftedAsync() => page.EvaluateAsync<string>("() => (window.shifted ?? []).join('\\n')");

    public async ValueTask DisposeAsync() => await context.DisposeAsync();

    public static Regex ProjectUrl() => ProjectPath();

    private static List<string> Listen(IPage page)
    {
        var errors = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                lock (errors) errors.Add($"{message.Text} at {message.Location}");
            }
        };
        page.PageError += (_, error) =>
        {
            lock (errors) errors.Add(error);
        };
        return errors;
    }

    [GeneratedRegex(@"/projects/\d+$")]
    private static partial Regex ProjectPath();

    [GeneratedRegex(@"id (\d+)\)")]
    private static partial Regex UserId();
}
