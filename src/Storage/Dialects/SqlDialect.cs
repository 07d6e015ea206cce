using System.Data.Common;

namespace Triage.Storage.Dialects;

/// <summary>
/// What differs between SQLite and PostgreSQL: opening connections, taking the write and migration locks, and how a
/// timestamp is stored. The repository's SQL itself is shared.
/// </summary>
internal abstract class SqlDialect : IAsyncDisposable
{
    /// <summary><c>sqlite</c> or <c>postgres</c>; also the folder of the dialect's migration scripts.</summary>
    public abstract string Name { get; }

    /// <summary>Provider and redacted connection string.</summary>
    public abstract string Description { get; }

    /// <summary>DDL for <c>schema_migrations</c>, run (IF NOT EXISTS) under the migration lock.</summary>
    public abstract string CreateMigrationsTableSql { get; }

    /// <summary>A scalar query that is 1 when <c>schema_migrations</c> exists, else 0.</summary>
    public abstract string MigrationsTableExistsSql { get; }

    public abstract Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    /// <summary>A transaction that will write: on SQLite it takes the write lock up front.</summary>
    public abstract Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>
    /// A transaction holding the lock that serialises migrators across processes; released by commit or rollback.
    /// </summary>
    public abstract Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>The parameter value that stores <paramref name="value"/> as a UTC timestamp.</summary>
    public abstract object ToDbTimestamp(DateTimeOffset value);

    /// <summary>Reads back what <see cref="ToDbTimestamp"/> stored, as a UTC <see cref="DateTimeOffset"/>.</summary>
    public abstract DateTimeOffset FromDbTimestamp(object value);

    public abstract ValueTask DisposeAsync();
}
