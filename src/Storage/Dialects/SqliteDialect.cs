using System.Data;
using System.Data.Common;
using System.Globalization;
using Dapper;
using Microsoft.Data.Sqlite;

namespace Triage.Storage.Dialects;

internal sealed class SqliteDialect : SqlDialect
{
    // Fixed width with 'Z', so comparing the text compares the instants (see the first/last-seen upsert).
    private const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    private readonly string _connectionString;
    private readonly string _busyTimeoutSql;
    private volatile bool _walEnabled;

    public SqliteDialect(string connectionString)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString);
        _connectionString = builder.ConnectionString;
        Description = $"sqlite {ConnectionStringRedactor.Redact(_connectionString)}";

        // SQLite waits this long for another writer's lock before failing with SQLITE_BUSY. It follows the
        // connection string's Default Timeout (30 s unless set), which Microsoft.Data.Sqlite also uses for its own
        // retries, so the two agree. The value is an int we computed, not input, so it can be part of the text.
        var busyTimeoutMs = checked(Math.Max(builder.DefaultTimeout, 0) * 1000);
        _busyTimeoutSql = string.Create(CultureInfo.InvariantCulture, $"PRAGMA busy_timeout = {busyTimeoutMs};");

        CreateDirectoryOf(builder.DataSource);
    }

    public override string Name => StorageOptions.SqliteProvider;

    public override string Description { get; }

    public override string CreateMigrationsTableSql => """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER NOT NULL PRIMARY KEY,
            name       TEXT    NOT NULL,
            applied_at TEXT    NOT NULL
        ) STRICT;
        """;

    public override string MigrationsTableExistsSql =>
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'";

    public override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            // busy_timeout is per connection; pooled connections keep it, but setting it again costs nothing.
            await connection.ExecuteAsync(new CommandDefinition(_busyTimeoutSql, cancellationToken: cancellationToken))
                .ConfigureAwait(false);
            if (!_walEnabled)
            {
                // WAL lets readers (status queries) run while the worker writes, and is remembered by the file, so
                // once per repository is enough. Durability stays at synchronous=FULL: the worker acknowledges queue
                // messages after COMMIT, so a committed batch must survive a power cut.
                await connection.ExecuteScalarAsync<string>(
                    new CommandDefinition("PRAGMA journal_mode = WAL;", cancellationToken: cancellationToken))
                    .ConfigureAwait(false);
                _walEnabled = true;
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    // BEGIN IMMEDIATE takes the write lock at the start (waiting up to the busy timeout). A deferred transaction would
    // take it at the first write, and an upgrade that collides with another writer fails at once, without waiting.
    public override Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(IsolationLevel.Serializable, deferred: false));

    // SQLite has a single writer, so the write lock is also the migration lock across processes.
    public override Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancellationToken) =>
        BeginWriteAsync(connection, cancellationToken);

    public override object ToDbTimestamp(DateTimeOffset value) =>
        value.UtcDateTime.ToString(TimestampFormat, CultureInfo.InvariantCulture);

    public override DateTimeOffset FromDbTimestamp(object value) => value switch
    {
        string text => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal),
        DateTime dateTime => new DateTimeOffset(DateTime.SpecifyKind(dateTime, DateTimeKind.Utc)),
        DateTimeOffset dateTimeOffset => dateTimeOffset.ToUniversalTime(),
        _ => throw new InvalidCastException($"Unexpected SQLite timestamp value of type {value?.GetType().Name ?? "null"}"),
    };

    public override ValueTask DisposeAsync()
    {
        // Pooled connections keep the file (and its -wal/-shm) open; release them with the repository.
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
        return ValueTask.CompletedTask;
    }

    private static void CreateDirectoryOf(string dataSource)
    {
        // URI file names and in-memory databases have no directory of ours to create.
        if (string.IsNullOrWhiteSpace(dataSource)
            || dataSource.StartsWith("file:", StringComparison.OrdinalIgnoreCase)
            || dataSource.Trim() == ":memory:")
            return;

        var directory = Path.GetDirectoryName(Path.GetFullPath(dataSource));
        if (string.IsNullOrEmpty(directory) || Directory.Exists(directory))
            return;
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException(
                $"{StorageOptions.SectionName}:{nameof(StorageOptions.ConnectionString)}: cannot create the directory '{directory}' for the SQLite database: {e.Message}",
                e);
        }
    }
}
