using Api.Projects;
using Auth.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Platform.Tests.Stores;

/// <summary>
/// The start-up of auth's and api's stores as their Program.cs runs it (AddUsers/AddProjects, then
/// InitializeUsersAsync/InitializeProjectsAsync), on a given connection string, without serving anything.
/// </summary>
internal static class StoreHost
{
    public static WebApplication Build(string name, string connectionString, Action<WebApplicationBuilder> add)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = name });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"ConnectionStrings:{name}"] = connectionString,
            ["Auth:AdminEmail"] = "admin@example.com",
            ["Auth:AdminPassword"] = "admin-password-for-tests",
        });
        add(builder);
        return builder.Build();
    }

    public static async Task InitializeProjectsAsync(string connectionString)
    {
        await using var app = Build("projects", connectionString, builder => builder.AddProjects());
        await app.InitializeProjectsAsync();
    }

    public static async Task InitializeUsersAsync(string connectionString)
    {
        await using var app = Build("users", connectionString, builder => builder.AddUsers());
        await app.InitializeUsersAsync();
    }
}
