using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Platform.Data;

namespace Auth.Users;

public static class UsersSetup
{
    /// <summary>Made by EnsureCreated before migrations existed: its one table, created by the first migration.</summary>
    private static readonly EnsureCreatedBaseline Baseline = new(("Initial", "Users"));

    /// <summary>
    /// The users database: PostgreSQL when <c>ConnectionStrings:users</c> names a server, else a SQLite file
    /// (that connection string, or <c>App_Data/users.db</c> under the content root). Passwords are hashed with
    /// ASP.NET Core's PasswordHasher (PBKDF2).
    /// </summary>
    public static WebApplicationBuilder AddUsers(this WebApplicationBuilder builder)
    {
        builder.AddStoreOfRecord<UsersDb, SqliteUsersDb, PostgresUsersDb>("users",
            Path.Combine(builder.Environment.ContentRootPath, "App_Data", "users.db"));
        builder.Services.AddSingleton<IPasswordHasher<User>, PasswordHasher<User>>();
        builder.Services.AddSingleton<PasswordHashing>();
        return builder;
    }

    /// <summary>
    /// Migrates the database (see <see cref="StoreMigrator"/>) and makes sure the admin from <c>Auth:AdminEmail</c> /
    /// <c>Auth:AdminPassword</c> (the AppHost's <c>admin-email</c> and <c>admin-password</c> parameters) exists,
    /// holds the admin tier, and signs in with that password: the parameters are the truth for this one account.
    /// </summary>
    public static async Task InitializeUsersAsync(this WebApplication app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<UsersDb>();
        await StoreMigrator.MigrateAsync(db, Baseline, app.Logger);

        var email = app.Configuration["Auth:AdminEmail"];
        var password = app.Configuration["Auth:AdminPassword"];
        if (string.IsNullOrWhiteSpace(email) || string.IsNullOrWhiteSpace(password))
        {
            app.Logger.LogWarning("No Auth:AdminEmail/Auth:AdminPassword: no admin account is seeded.");
            return;
        }

        var hasher = scope.ServiceProvider.GetRequiredService<IPasswordHasher<User>>();
        var normalized = email.Trim().ToLowerInvariant();
        User admin;
        for (var attempt = 1; ; attempt++)
        {
            admin = await db.Users.SingleOrDefaultAsync(u => u.NormalizedEmail == normalized)
                ?? db.Users.Add(new User { Email = email.Trim(), NormalizedEmail = normalized, Name = "Administrator", PasswordHash = "", CreatedAt = DateTimeOffset.UtcNow }).Entity;
            admin.Tier = Tiers.Admin;
            admin.PasswordHash = hasher.HashPassword(admin, password);
            try
            {
                await db.SaveChangesAsync();
                break;
            }
            catch (DbUpdateException) when (attempt == 1)
            {
                // Replicas starting together both found no admin and both inserted: the unique email let one win.
                // The other now finds that row and updates it.
                db.ChangeTracker.Clear();
            }
        }
        app.Logger.LogInformation("Admin account {Email} is ready.", admin.Email);
    }
}
