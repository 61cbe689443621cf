using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Logging;

namespace Platform.Data;

/// <summary>
/// Before migrations, the services made their SQLite schema with <c>EnsureCreated</c>, which leaves no migration
/// history. Such a database already holds what the first migrations create: each migration named here is recorded
/// as applied when the table it creates is there, in order, stopping at the first that is missing (the rest then
/// run as usual). A database that has a history, or no tables at all, is left alone.
/// </summary>
/// <param name="TablesByMigration">Migration name (without its timestamp) and the table that proves it ran.</param>
public sealed record EnsureCreatedBaseline(params (string Migration, string Table)[] TablesByMigration)
{
    public async Task AdoptAsync(DbContext db, ILogger logger, CancellationToken cancellationToken)
    {
        var history = db.GetService<IHistoryRepository>();
        var migrations = db.Database.GetMigrations().ToList();
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            // SQLite's transactions from Microsoft.Data.Sqlite are IMMEDIATE: a replica adopting at the same time waits
            // here, then finds the history this one wrote.
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            var connection = db.Database.GetDbConnection();
            var dbTransaction = transaction.GetDbTransaction();
            if (await TableExistsAsync(connection, dbTransaction, HistoryRepository.DefaultTableName, cancellationToken))
            {
                return;
            }

            var adopted = new List<string>();
            foreach (var (migration, table) in TablesByMigration)
            {
                if (!await TableExistsAsync(connection, dbTransaction, table, cancellationToken))
                {
                    break;
                }
                adopted.Add(migrations.Single(id => id.EndsWith($"_{migration}", StringComparison.Ordinal)));
            }
            if (adopted.Count == 0)
            {
                return;
            }

            await ExecuteAsync(connection, dbTransaction, history.GetCreateIfNotExistsScript(), cancellationToken);
            foreach (var id in adopted)
            {
                await ExecuteAsync(connection, dbTransaction, history.GetInsertScript(new HistoryRow(id, ProductInfo.GetVersion())), cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
            logger.LogInformation("Adopted a database made by EnsureCreated: recorded {Migrations} as applied", adopted);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    private static async Task<bool> TableExistsAsync(DbConnection connection, DbTransaction transaction, string table, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $name";
        var parameter = command.CreateParameter();
        parameter.ParameterName = "$name";
        parameter.Value = table;
        command.Parameters.Add(parameter);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken)) > 0;
    }

    private static async Task ExecuteAsync(DbConnection connection, DbTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
