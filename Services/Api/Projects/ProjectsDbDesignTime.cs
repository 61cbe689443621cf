using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Api.Projects;

/// <summary>
/// For <c>dotnet ef migrations add</c> (README, "Data of record"): the service registers only one of the two
/// contexts, so the tool builds each from here. No database is contacted.
/// </summary>
public sealed class SqliteProjectsDbDesignTime : IDesignTimeDbContextFactory<SqliteProjectsDb>
{
    public SqliteProjectsDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteProjectsDb>().UseSqlite("Data Source=projects.db").Options);
}

public sealed class PostgresProjectsDbDesignTime : IDesignTimeDbContextFactory<PostgresProjectsDb>
{
    public PostgresProjectsDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresProjectsDb>().UseNpgsql("Host=localhost;Database=projects").Options);
}
