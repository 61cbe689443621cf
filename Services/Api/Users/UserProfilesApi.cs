using Api.Caching;
using Microsoft.AspNetCore.Http.HttpResults;
using Platform.Caching;

namespace Api.Users;

public static class UserProfilesApi
{
    public static WebApplicationBuilder AddUserProfiles(this WebApplicationBuilder builder)
    {
        builder.Services.AddHttpClient<AuthUsersClient>(http => http.BaseAddress = new Uri("http://auth"));
        return builder;
    }

    /// <summary>
    /// <c>GET /api/users/{id}</c>: a profile from auth, cached for 30 minutes for every caller alike (it does not
    /// depend on who asks): the "cache another service's answer" case. Signed-in callers only.
    /// </summary>
    public static IEndpointRouteBuilder MapUserProfilesApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/api/users/{id}", GetProfile).RequireAuthorization().CacheOutput(ApiCaching.ProfilesPolicy);
        return endpoints;
    }

    private static async Task<Results<ETaggedJson<UserProfile>, ProblemHttpResult>> GetProfile(
        string id, HttpContext context, AuthUsersClient auth)
    {
        if (!int.TryParse(id, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) || number <= 0)
        {
            return NoSuchUser(id);
        }
        UserProfile? profile;
        try
        {
            profile = await auth.GetProfileAsync(id, context, CachedEndpoint.Uncancelled);
        }
        catch (Exception e) when (AuthUsersClient.IsUnavailable(e))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "auth is unavailable",
                detail: "The user directory could not be reached. Retry shortly.");
        }
        if (profile is null)
        {
            return NoSuchUser(id);
        }
        OutputCacheTags.Add(context, ApiCaching.ProfileTag(profile.Id));
        return ETaggedJson.Ok(profile);
    }

    private static ProblemHttpResult NoSuchUser(string id) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such user", detail: $"There is no user '{id}'.");
}
