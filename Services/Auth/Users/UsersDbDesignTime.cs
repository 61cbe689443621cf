using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Auth.Users;

/// <summary>
/// For <c>dotnet ef migrations add</c> (README, "Data of record"): the service registers only one of the two
/// contexts, so the tool builds each from here. No database is contacted.
/// </summary>
public sealed class SqliteUsersDbDesignTime : IDesignTimeDbContextFactory<SqliteUsersDb>
{
    public SqliteUsersDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteUsersDb>().UseSqlite("Data Source=users.db").Options);
}

public sealed class PostgresUsersDbDesignTime : IDesignTimeDbContextFactory<PostgresUsersDb>
{
    public PostgresUsersDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresUsersDb>().UseNpgsql("Host=localhost;Database=users").Options);
}
