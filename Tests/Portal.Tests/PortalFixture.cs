using AppHost.Tests;
using Microsoft.Playwright;

namespace Portal.Tests;

/// <summary>
/// The whole system (as AppHost.Tests starts it) and one headless Chromium, Debian's, driven by Playwright without
/// its browser download. Where chromium is missing the browser tests are skipped, saying how to install it; under CI
/// (<c>CI=true</c>) they fail instead.
/// </summary>
public class PortalFixture : DistributedAppFixture
{
    public const string InstallCommand = "sudo apt-get install -y chromium";
    /// <summary>Sign-in attempts per email allowed in <see cref="SignInWindow"/>: the gateway's default of 10, in a short window.</summary>
    public const int SignInAttemptsPerEmail = 10;
    public static readonly TimeSpan SignInWindow = TimeSpan.FromSeconds(15);
    /// <summary>The simulated deployment's steps (DistributedAppFixture): building 1 s, deploying 1 s.</summary>
    public static readonly TimeSpan StepDurations = TimeSpan.FromSeconds(2);

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    /// <summary>Why the browser tests cannot run here, or null.</summary>
    public string? Unavailable { get; private set; }

    public IBrowser Browser => _browser ?? throw new InvalidOperationException(Unavailable ?? "The browser has not started.");

    public Uri PortalAddress => App.GetEndpoint("api", "http");

    /// <summary>Where screenshots go: the test project's TestResults folder, beside the test run's other results.</summary>
    public static string ScreenshotDirectory
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && directory.GetFiles("*.csproj").Length == 0)
            {
                directory = directory.Parent;
            }
            return Path.Combine(directory?.FullName ?? AppContext.BaseDirectory, "TestResults", "screenshots");
        }
    }

    public override async Task InitializeAsync()
    {
        if (FindChromium() is not { } chromium)
        {
            var reason = $"Chromium is not installed (looked for /usr/bin/chromium and chromium on PATH); the browser tests need it: {InstallCommand}";
            if (Environment.GetEnvironmentVariable("CI") is not null)
            {
                throw new InvalidOperationException($"{reason}. Under CI the browser tests must run.");
            }
            Unavailable = reason;
            return;
        }
        Assertions.SetDefaultExpectTimeout(15_000);
        await base.InitializeAsync();
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = chromium,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
            Timeout = 60_000,
        });
    }

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        base.Configure(builder);
        // The real limits of signed-in users (the panel shows them), and the real per-email sign-in limit in a window
        // short enough to wait out. Anonymous callers stay unlimited: every browser here shares one address.
        builder.CreateResourceBuilder<ProjectResource>("api")
            .WithEnvironment("RateLimiting__Tiers__user", "100")
            .WithEnvironment("RateLimiting__Tiers__premium", "1000")
            .WithEnvironment("RateLimiting__Tiers__admin", "10000")
            .WithEnvironment("RateLimiting__SignInAttemptsPerEmail", SignInAttemptsPerEmail.ToString())
            .WithEnvironment("RateLimiting__SignInWindow", SignInWindow.ToString())
            // Two attempts, so that a failing deployment is dead-lettered within seconds.
            .WithEnvironment("Jobs__DefaultMaxAttempts", "2");
        builder.CreateResourceBuilder<ProjectResource>("worker")
            .WithEnvironment("Worker__Deployment__RetryFailedBuilds", "true")
            .WithEnvironment("Jobs__FirstBackoff", "00:00:00.500");
        // A revoked session's stream ends within a second or so.
        builder.CreateResourceBuilder<ProjectResource>("notifier")
            .WithEnvironment("Notifications__SessionRevalidationInterval", "00:00:01");
    }

    /// <summary>A fresh browser profile (its own cookies: its own session) at the given width, on the gateway or <paramref name="address"/>.</summary>
    public async Task<PortalPage> OpenAsync(int width = 1280, bool bypassCsp = false, Uri? address = null)
    {
        var context = await Browser.NewContextAsync(new()
        {
            BaseURL = (address ?? PortalAddress).ToString().TrimEnd('/'),
            ViewportSize = new() { Width = width, Height = 900 },
            BypassCSP = bypassCsp,
        });
        context.SetDefaultTimeout(15_000);
        return new PortalPage(context, await context.NewPageAsync());
    }

    public override async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }
        _playwright?.Dispose();
        await base.DisposeAsync();
    }

    private static string? FindChromium() =>
        new[] { "/usr/bin/chromium" }
            .Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
                .Select(dir => Path.Combine(dir, "chromium")))
            .FirstOrDefault(File.Exists);
}

[CollectionDefinition(Name)]
public sealed class PortalCollection : ICollectionFixture<PortalFixture>
{
    public const string Name = "portal";
}
