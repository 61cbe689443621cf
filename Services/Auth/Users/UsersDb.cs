using Microsoft.EntityFrameworkCore;

namespace Auth.Users;

public sealed class UsersDb(DbContextOptions<UsersDb> options) : DbContext(options)
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
