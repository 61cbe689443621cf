using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace Auth.Users;

public static class UsersSetup
{
    /// <summary>
    /// The users database: a SQLite file, <c>ConnectionStrings:users</c> or <c>App_Data/users.db</c> under the
    /// content root. Passwords are hashed with ASP.NET Core's PasswordHasher (PBKDF2).
    /// </summary>
    public static WebApplicationBuilder AddUsers(this WebApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString("users")
            ?? $"Data Source={Path.Combine(builder.Environment.ContentRootPath, "App_Data", "users.db")}";
        builder.Services.AddDbContext<UsersDb>(options => options.UseSqlite(connectionString));
        builder.Services.AddSingleton<IPasswordHasher<User>, PasswordHasher<User>>();
        builder.Services.AddSingleton<PasswordHashing>();
        return builder;
    }

    /// <summary>
    /// Creates the database if needed and makes sure the admin from <c>Auth:AdminEmail</c> /
    /// <c>Auth:AdminPassword</c> (the AppHost's <c>admin-email</c> and <c>admin-password</c> parameters) exists,
    /// holds the admin tier, and signs in with that password: the parameters are the truth for this one account.
    /// </summary>
    public static async Task InitializeUsersAsync(this WebApplication app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<UsersDb>();
        var connection = db.Database.GetDbConnection();
        if (connection.DataSource is { Length: > 0 } file && Path.GetDirectoryName(Path.GetFullPath(file)) is { } folder)
        {
            Directory.CreateDirectory(folder);
        }
        await db.Database.EnsureCreatedAsync();

        var email = app.Configuration["Auth:AdminEmail"];
        var password = app.Configuration["Auth:AdminPassword"];
        if (string.IsNullOrWhiteSpace(email) || string.IsNullOrWhiteSpace(password))
        {
            app.Logger.LogWarning("No Auth:AdminEmail/Auth:AdminPassword: no admin account is seeded.");
            return;
        }

        var hasher = scope.ServiceProvider.GetRequiredService<IPasswordHasher<User>>();
        var normalized = email.Trim().ToLowerInvariant();
        var admin = await db.Users.SingleOrDefaultAsync(u => u.NormalizedEmail == normalized);
        if (admin is null)
        {
            admin = new User { Email = email.Trim(), NormalizedEmail = normalized, Name = "Administrator", PasswordHash = "", CreatedAt = DateTimeOffset.UtcNow };
            db.Users.Add(admin);
        }
        admin.Tier = Tiers.Admin;
        admin.PasswordHash = hasher.HashPassword(admin, password);
        await db.SaveChangesAsync();
        app.Logger.LogInformation("Admin account {Email} is ready.", admin.Email);
    }
}
