using System.Net.Mail;
using Auth.Users;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Platform.Hosting;
using Platform.Sessions;

namespace Auth;

/// <summary>The auth endpoints of DESIGN.md section 5: register, sign in, who am I, sessions, tiers.</summary>
public static class AuthApi
{
    public const int MinPasswordLength = 12;
    private const int MaxPasswordLength = 256;

    public static IEndpointRouteBuilder MapAuthApi(this IEndpointRouteBuilder endpoints)
    {
        var auth = endpoints.MapGroup("/auth");
        auth.MapPost("/register", Register);
        auth.MapPost("/login", Login);
        auth.MapGet("/me", Me).RequireAuthorization();
        auth.MapGet("/sessions", ListSessions).RequireAuthorization();
        auth.MapDelete("/sessions/current", RevokeCurrent).RequireAuthorization();
        auth.MapDelete("/sessions/{id}", RevokeOne).RequireAuthorization();
        auth.MapDelete("/sessions", RevokeAll).RequireAuthorization();
        auth.MapGet("/users/{id:int}", Profile).RequireAuthorization();
        auth.MapPut("/users/{id:int}/tier", ChangeTier).RequireAuthorization(policy => policy.RequireRole(Tiers.Admin));
        return endpoints;
    }

    private static async Task<Results<Created<UserView>, ValidationProblem, ProblemHttpResult>> Register(
        HttpRequest request, UsersDb db, PasswordHashing hasher)
    {
        var (body, problem) = await JsonBody.ReadAsync<RegisterRequest>(request);
        if (problem is not null)
        {
            return problem;
        }

        var errors = new Dictionary<string, string[]>();
        var email = body!.Email?.Trim() ?? "";
        if (email.Length is 0 or > 254 || !MailAddress.TryCreate(email, out var parsed) || parsed.Address != email)
        {
            errors["email"] = ["A valid email address of at most 254 characters is required."];
        }
        if (body.Password is not { Length: >= MinPasswordLength and <= MaxPasswordLength })
        {
            errors["password"] = [$"The password must be {MinPasswordLength} to {MaxPasswordLength} characters long."];
        }
        var name = body.Name?.Trim() ?? "";
        if (name.Length is 0 or > 100)
        {
            errors["name"] = ["A name of 1 to 100 characters is required."];
        }
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var user = new User
        {
            Email = email,
            NormalizedEmail = email.ToLowerInvariant(),
            Name = name,
            PasswordHash = "",
            CreatedAt = DateTimeOffset.UtcNow,
        };
        user.PasswordHash = await hasher.HashAsync(user, body.Password!);
        db.Users.Add(user);
        try
        {
            await db.SaveChangesAsync();
        }
        catch (DbUpdateException)
        {
            // The unique index decides, so two registrations racing for one email cannot both succeed.
            db.ChangeTracker.Clear();
            if (await db.Users.AnyAsync(u => u.NormalizedEmail == user.NormalizedEmail))
            {
                return Conflict();
            }
            throw;
        }
        return TypedResults.Created($"/auth/users/{user.Id}", View(user));
    }

    private static async Task<Results<Ok<LoginResponse>, ProblemHttpResult>> Login(
        HttpContext context, UsersDb db, PasswordHashing hasher, SessionStore sessions,
        SessionTelemetry telemetry, IOptions<SessionStoreOptions> options)
    {
        var (body, problem) = await JsonBody.ReadAsync<LoginRequest>(context.Request);
        if (problem is not null)
        {
            return problem;
        }
        if (string.IsNullOrWhiteSpace(body!.Email) || string.IsNullOrEmpty(body.Password) || body.Password.Length > MaxPasswordLength)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid request body", detail: "email and password are required.");
        }

        var normalized = body.Email.Trim().ToLowerInvariant();
        var user = await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.NormalizedEmail == normalized);
        // An unknown email costs the same hashing work as a wrong password, and gets the same answer.
        var verified = await hasher.VerifyAsync(user ?? TimingDummy, user?.PasswordHash ?? TimingDummyHash, body.Password);
        if (user is null || verified == PasswordVerificationResult.Failed)
        {
            telemetry.SignIns.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
            return TypedResults.Problem(statusCode: 401, title: "Sign-in failed", detail: "The email or password is incorrect.");
        }

        var created = await sessions.CreateAsync(SessionUserOf(user), context.Request.Headers.UserAgent.ToString());
        // A tier change that landed between reading the user and creating the session has already rewritten the
        // user's other sessions but not this one: read once more and bring this one up to date.
        var current = await db.Users.AsNoTracking().SingleAsync(u => u.Id == user.Id);
        if (current.Tier != user.Tier)
        {
            await sessions.UpdateUserAsync(UserId(current), current.Tier, current.Roles);
        }

        telemetry.SignIns.Add(1, new KeyValuePair<string, object?>("outcome", "succeeded"));
        context.Response.Cookies.Append(options.Value.CookieName, created.Token, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = IsHttps(context.Request),
            Path = "/",
            Expires = created.Session.AbsoluteExpiresAt,
        });
        return TypedResults.Ok(new LoginResponse(created.Token, created.Session.ExpiresAt, View(current)));
    }

    private static Ok<MeResponse> Me(HttpContext context)
    {
        var session = context.Features.GetRequiredFeature<Session>();
        var user = session.User;
        return TypedResults.Ok(new MeResponse(
            new UserView(user.UserId, user.Email, user.Name, user.Tier, user.Roles),
            new SessionView(session.Id, session.CreatedAt, session.LastActivity, session.ExpiresAt)));
    }

    private static async Task<Ok<List<SessionListItem>>> ListSessions(HttpContext context, SessionStore sessions)
    {
        var current = context.Features.GetRequiredFeature<Session>();
        var all = await sessions.ListAsync(current.User.UserId);
        return TypedResults.Ok(all
            .Select(s => new SessionListItem(s.Id, s.CreatedAt, s.LastActivity, s.UserAgent, s.ExpiresAt, s.Id == current.Id))
            .ToList());
    }

    private static async Task<NoContent> RevokeCurrent(HttpContext context, SessionStore sessions, IOptions<SessionStoreOptions> options)
    {
        var current = context.Features.GetRequiredFeature<Session>();
        await sessions.RevokeAsync(current.User.UserId, current.Id);
        context.Response.Cookies.Delete(options.Value.CookieName);
        return TypedResults.NoContent();
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RevokeOne(string id, HttpContext context, SessionStore sessions, IOptions<SessionStoreOptions> options)
    {
        var current = context.Features.GetRequiredFeature<Session>();
        if (!await sessions.RevokeAsync(current.User.UserId, id))
        {
            return TypedResults.Problem(statusCode: 404, title: "No such session", detail: $"You have no live session '{id}'.");
        }
        if (id == current.Id)
        {
            context.Response.Cookies.Delete(options.Value.CookieName);
        }
        return TypedResults.NoContent();
    }

    private static async Task<NoContent> RevokeAll(HttpContext context, SessionStore sessions, IOptions<SessionStoreOptions> options)
    {
        var current = context.Features.GetRequiredFeature<Session>();
        await sessions.RevokeAllAsync(current.User.UserId);
        context.Response.Cookies.Delete(options.Value.CookieName);
        return TypedResults.NoContent();
    }

    /// <summary>A user's public profile, for any signed-in caller (the api caches it for every caller alike).</summary>
    private static async Task<Results<Ok<UserProfile>, ProblemHttpResult>> Profile(int id, UsersDb db)
    {
        var user = await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.Id == id);
        return user is null
            ? TypedResults.Problem(statusCode: 404, title: "No such user", detail: $"There is no user {id}.")
            : TypedResults.Ok(new UserProfile(UserId(user), user.Name, user.CreatedAt));
    }

    private static async Task<Results<Ok<UserView>, ValidationProblem, ProblemHttpResult>> ChangeTier(
        int id, HttpRequest request, UsersDb db, SessionStore sessions)
    {
        var (body, problem) = await JsonBody.ReadAsync<TierRequest>(request);
        if (problem is not null)
        {
            return problem;
        }
        if (body!.Tier is not { } tier || !Tiers.Assignable.Contains(tier))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]>
            {
                ["tier"] = [$"The tier must be one of: {string.Join(", ", Tiers.Assignable)}."],
            });
        }

        var user = await db.Users.SingleOrDefaultAsync(u => u.Id == id);
        if (user is null)
        {
            return TypedResults.Problem(statusCode: 404, title: "No such user", detail: $"There is no user {id}.");
        }
        user.Tier = tier;
        await db.SaveChangesAsync();
        // Data of record first, then every live session at once, so a sign-in in between is caught (see Login).
        await sessions.UpdateUserAsync(UserId(user), user.Tier, user.Roles);
        return TypedResults.Ok(View(user));
    }

    private static readonly User TimingDummy = new() { Email = "", NormalizedEmail = "", Name = "", PasswordHash = "" };
    private static readonly string TimingDummyHash = new PasswordHasher<User>().HashPassword(TimingDummy, Guid.NewGuid().ToString());

    private static ProblemHttpResult Conflict() =>
        TypedResults.Problem(statusCode: 409, title: "Email already registered", detail: "An account with this email already exists.");

    private static string UserId(User user) => user.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
    private static UserView View(User user) => new(UserId(user), user.Email, user.Name, user.Tier, user.Roles);
    private static SessionUser SessionUserOf(User user) => new(UserId(user), user.Email, user.Name, user.Roles, user.Tier);

    private static bool IsHttps(HttpRequest request) =>
        request.IsHttps || string.Equals(request.Headers["X-Forwarded-Proto"], "https", StringComparison.OrdinalIgnoreCase);
}
