using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AppHost;

/// <summary>
/// The AppHost's own console says, once at start, which runtime serves each backing resource and why, beside the
/// dashboard's URL: a new user sees where Redis (and the database) come from without opening the dashboard.
/// </summary>
public static class RuntimeConsole
{
    /// <summary>The logger category of those lines (shown on the console at the default level, Information).</summary>
    public const string Category = "AppHost.Runtime";

    /// <summary>
    /// Prints "<paramref name="resource"/>'s name runtime: <paramref name="runtime"/> (<paramref name="reason"/>)" once,
    /// when the application starts. One call per runtime choice, e.g. <c>redis.WithRuntimeOnConsole(kind, reason)</c>.
    /// </summary>
    public static IResourceBuilder<T> WithRuntimeOnConsole<T>(this IResourceBuilder<T> resource, string runtime, string reason)
        where T : IResource
    {
        ArgumentNullException.ThrowIfNull(resource);
        resource.ApplicationBuilder.PrintRuntimeOnConsole(resource.Resource.Name, runtime, reason);
        return resource;
    }

    /// <summary>
    /// The same line for a choice that may add no resource at all (the database runtime <c>sqlite</c>):
    /// "<paramref name="name"/> runtime: <paramref name="runtime"/> (<paramref name="reason"/>)", once at start.
    /// </summary>
    public static void PrintRuntimeOnConsole(this IDistributedApplicationBuilder builder, string name, string runtime, string reason)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Eventing.Subscribe<BeforeStartEvent>((e, _) =>
        {
            e.Services.GetRequiredService<ILoggerFactory>().CreateLogger(Category)
                .LogInformation("{Resource} runtime: {Runtime} ({Reason})", name, runtime, reason);
            return Task.CompletedTask;
        });
    }
}
