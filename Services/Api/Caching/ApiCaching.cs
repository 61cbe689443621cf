using Platform.Caching;

namespace Api.Caching;

/// <summary>The api's output-cache policies and tags. What each write evicts is listed beside the tag it names.</summary>
public static class ApiCaching
{
    /// <summary>Projects: the caller's listing and a project's detail. Per caller: access and listings depend on who asks.</summary>
    public const string ProjectsPolicy = "projects";
    /// <summary>User profiles from auth: the same for every signed-in caller.</summary>
    public const string ProfilesPolicy = "profiles";

    public static readonly TimeSpan ProjectsLifetime = TimeSpan.FromMinutes(10);
    public static readonly TimeSpan ProfilesLifetime = TimeSpan.FromMinutes(30);

    /// <summary>Every caller's entry for one project: its detail, and each listing that contains it. Evicted on rename and membership change.</summary>
    public static string ProjectTag(int projectId) => $"project:{projectId}";

    /// <summary>One user's listing. Evicted when they create a project or join one.</summary>
    public static string ListingTag(string userId) => $"listing:{userId}";

    public static string ProfileTag(string userId) => $"profile:{userId}";

    public static WebApplicationBuilder AddApiOutputCache(this WebApplicationBuilder builder) =>
        builder.AddRedisOutputCache(options =>
        {
            options.AddPolicy(ProjectsPolicy, CallerAwareCachePolicy.PerCaller(ProjectsPolicy, ProjectsLifetime));
            options.AddPolicy(ProfilesPolicy, CallerAwareCachePolicy.SharedByCallers(ProfilesPolicy, ProfilesLifetime));
        });
}
