using System.Data;
using System.Data.Common;
using Dapper;
using Npgsql;

namespace Triage.Storage.Dialects;

internal sealed class PostgresDialect : SqlDialect
{
    /// <summary>
    /// Key of the advisory lock that serialises migrators ("triage" in ASCII plus 1); any constant works as long as
    /// nothing else in the database uses it.
    /// </summary>
    internal const long MigrationLockKey = 0x7472_6961_6765_0001;

    private readonly NpgsqlDataSource _dataSource;

    // No pool clearing of our own after a server restart: when a pooled connection breaks with a transient or
    // shutdown error, Npgsql marks the server offline and clears the data source's pool itself, so the first call
    // after the server is back gets a fresh connection (PostgresRestartTests holds it to that).
    public PostgresDialect(string connectionString)
    {
        _dataSource = NpgsqlDataSource.Create(connectionString);
        Description = $"postgres {ConnectionStringRedactor.Redact(connectionString)}";
    }

    public override string Name => StorageOptions.PostgresProvider;

    public override string Description { get; }

    public override string CreateMigrationsTableSql => """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer     NOT NULL PRIMARY KEY,
            name       text        NOT NULL,
            applied_at timestamptz NOT NULL
        );
        """;

    public override string MigrationsTableExistsSql =>
        "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN 0 ELSE 1 END";

    public override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    public override async Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);

    public override async Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var transaction = await BeginWriteAsync(connection, cancellationToken).ConfigureAwait(false);
        try
        {
            // A transaction-scoped lock: commit or rollback releases it, and so does a crash (the session ends), so
            // no failure path can leave it held on a pooled connection.
            await connection.ExecuteAsync(new CommandDefinition(
                "SELECT pg_advisory_xact_lock(@Key)",
                new { Key = MigrationLockKey },
                transaction,
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            return transaction;
        }
        catch
        {
            await transaction.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    // timestamptz wants an offset of zero; Npgsql refuses to guess what a local time meant.
    public override object ToDbTimestamp(DateTimeOffset value) => value.ToUniversalTime();

    public override DateTimeOffset FromDbTimestamp(object value) => value switch
    {
        DateTime dateTime => new DateTimeOffset(DateTime.SpecifyKind(dateTime, DateTimeKind.Utc)),
        DateTimeOffset dateTimeOffset => dateTimeOffset.ToUniversalTime(),
        _ => throw new InvalidCastException($"Unexpected PostgreSQL timestamp value of type {value?.GetType().Name ?? "null"}"),
    };

    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
