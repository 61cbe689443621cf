using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Platform.Data;

public static class StoreOfRecordExtensions
{
    /// <summary>
    /// Registers <typeparamref name="TContext"/> (one model) on the engine that <c>ConnectionStrings:{name}</c> names:
    /// PostgreSQL through Aspire's Npgsql EF Core integration (health check, tracing, metrics, retries on transient
    /// errors) as <typeparamref name="TPostgres"/>, or SQLite as <typeparamref name="TSqlite"/> (the file
    /// <paramref name="defaultSqliteFile"/> when no connection string is given). Each derived context carries its
    /// provider's migrations; code asks for <typeparamref name="TContext"/> and never sees which.
    /// </summary>
    public static StoreProvider AddStoreOfRecord<TContext, TSqlite, TPostgres>(
        this IHostApplicationBuilder builder, string name, string defaultSqliteFile)
        where TContext : DbContext
        where TSqlite : TContext
        where TPostgres : TContext
    {
        var connectionString = builder.Configuration.GetConnectionString(name);
        if (connectionString is not null && StoreProviders.Of(connectionString) == StoreProvider.PostgreSql)
        {
            builder.AddNpgsqlDbContext<TPostgres>(name);
            builder.Services.AddScoped<TContext>(services => services.GetRequiredService<TPostgres>());
            return StoreProvider.PostgreSql;
        }

        connectionString ??= $"Data Source={defaultSqliteFile}";
        builder.Services.AddDbContextPool<TContext, TSqlite>(options => options.UseSqlite(connectionString));
        return StoreProvider.Sqlite;
    }
}
