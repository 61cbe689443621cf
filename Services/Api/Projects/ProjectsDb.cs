using Api.Outbox;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace Api.Projects;

/// <summary>
/// The projects model, one for both engines. The service is given <see cref="SqliteProjectsDb"/> or
/// <see cref="PostgresProjectsDb"/>, each with its own migrations (Projects/Migrations/{Sqlite,Postgres}).
/// </summary>
public abstract class ProjectsDb(DbContextOptions options) : DbContext(options)
{
    public DbSet<Project> Projects => Set<Project>();
    public DbSet<ProjectMember> ProjectMembers => Set<ProjectMember>();
    public DbSet<Deployment> Deployments => Set<Deployment>();
    public DbSet<OutboxMessage> OutboxMessages => Set<OutboxMessage>();

    protected override void OnModelCreating(ModelBuilder model)
    {
        var project = model.Entity<Project>();
        project.Property(p => p.Name).HasMaxLength(ProjectsApi.MaxNameLength);
        project.Property(p => p.OwnerId).HasMaxLength(64);

        var member = model.Entity<ProjectMember>();
        // The key makes "add a member" idempotent under races: a second insert of the pair fails.
        member.HasKey(m => new { m.ProjectId, m.UserId });
        member.HasIndex(m => m.UserId);
        member.Property(m => m.UserId).HasMaxLength(64);
        member.Property(m => m.Role).HasMaxLength(16);
        member.HasOne(m => m.Project).WithMany(p => p.Members).HasForeignKey(m => m.ProjectId).OnDelete(DeleteBehavior.Cascade);

        var deployment = model.Entity<Deployment>();
        deployment.Property(d => d.Id).HasMaxLength(64);
        deployment.Property(d => d.Branch).HasMaxLength(200);
        deployment.Property(d => d.Environment).HasMaxLength(32);
        deployment.Property(d => d.RequestedBy).HasMaxLength(64);
        deployment.Property(d => d.JobId).HasMaxLength(64);
        // SQLite has no DateTimeOffset type: stored as a sortable number so that listings order by it in SQL.
        deployment.Property(d => d.CreatedAt).HasConversion(new DateTimeOffsetToBinaryConverter());
        deployment.HasIndex(d => new { d.ProjectId, d.CreatedAt });
        deployment.HasIndex(d => d.JobId);
        deployment.HasOne(d => d.Project).WithMany(p => p.Deployments).HasForeignKey(d => d.ProjectId).OnDelete(DeleteBehavior.Cascade);
    }
}

public sealed class SqliteProjectsDb(DbContextOptions<SqliteProjectsDb> options) : ProjectsDb(options);

public sealed class PostgresProjectsDb(DbContextOptions<PostgresProjectsDb> options) : ProjectsDb(options);
