using Microsoft.EntityFrameworkCore;

namespace Auth.Users;

/// <summary>
/// The users model, one for both engines. The service is given <see cref="SqliteUsersDb"/> or
/// <see cref="PostgresUsersDb"/>, each with its own migrations (Users/Migrations/{Sqlite,Postgres}).
/// </summary>
public abstract class UsersDb(DbContextOptions options) : DbContext(options)
{
    public DbSet<User> Users => Set<User>();

    protected override void OnModelCreating(ModelBuilder model)
    {
        var user = model.Entity<User>();
        user.HasIndex(u => u.NormalizedEmail).IsUnique();
        user.Property(u => u.Email).HasMaxLength(254);
        user.Property(u => u.NormalizedEmail).HasMaxLength(254);
        user.Property(u => u.Name).HasMaxLength(100);
        user.Property(u => u.Tier).HasMaxLength(16);
        user.Ignore(u => u.Roles);
    }
}

public sealed class SqliteUsersDb(DbContextOptions<SqliteUsersDb> options) : UsersDb(options);

public sealed class PostgresUsersDb(DbContextOptions<PostgresUsersDb> options) : UsersDb(options);
