namespace Worker;

/// <summary>Settings of the worker's handlers (configuration section <c>Worker</c>).</summary>
public sealed class WorkerOptions
{
    /// <summary>Where project databases are created, one <c>&lt;projectId&gt;.db</c> each. Defaults to <c>App_Data/projects</c>.</summary>
    public string ProjectsDirectory { get; set; } = Path.Combine("App_Data", "projects");

    /// <summary>The mail sink: each email job writes one <c>.eml</c> file here (a stand-in for SMTP). Defaults to <c>App_Data/mail</c>.</summary>
    public string MailDirectory { get; set; } = Path.Combine("App_Data", "mail");

    /// <summary>Simulated extra provisioning time inside the lock, to make overlaps visible. Defaults to 0.</summary>
    public TimeSpan ProvisionDuration { get; set; } = TimeSpan.Zero;

    public DeploymentSimulation Deployment { get; set; } = new();
}

/// <summary>The simulated deployment pipeline: how long each step takes and when it fails.</summary>
public sealed class DeploymentSimulation
{
    /// <summary>Defaults to 3 s.</summary>
    public TimeSpan BuildDuration { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Defaults to 2 s.</summary>
    public TimeSpan DeployDuration { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Share of builds that fail at random, 0 to 1. Defaults to 0.</summary>
    public double FailureRate { get; set; }

    /// <summary>Branches starting with this always fail to build, for demos and tests. Defaults to <c>fail/</c>.</summary>
    public string FailingBranchPrefix { get; set; } = "fail/";

    /// <summary>
    /// When true, a failed build is retried like a flaky one (with backoff, up to the job's attempts, then
    /// dead-lettered) instead of failing for good: for showing the dead letter set and its retry. Defaults to false.
    /// </summary>
    public bool RetryFailedBuilds { get; set; }

    /// <summary>
    /// A deployment that finds another of its project running goes back to the queue and tries again after this, or
    /// when the other's lock lease ends if that is sooner. Defaults to 2 s.
    /// </summary>
    public TimeSpan LockRetry { get; set; } = TimeSpan.FromSeconds(2);
}
