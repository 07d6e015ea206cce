using System.Globalization;
using Dapper;
using Microsoft.Data.Sqlite;

namespace Triage.Worker.Queues.Embedded;

/// <summary>
/// Opens connections to the queue file and creates its schema. Several processes may open the same file: WAL lets
/// readers run beside the one writer, and every state change runs in a <c>BEGIN IMMEDIATE</c> transaction so two
/// consumers can never claim the same row.
/// </summary>
internal sealed class EmbeddedQueueDatabase : IDisposable
{
    // Times are Unix milliseconds from the injected TimeProvider. A row is visible when state = 0 and
    // visible_at <= now; a claim sets visible_at = locked_until, so an expired lock makes it visible again without
    // any sweeper process. delivery_count counts claims, which is how Service Bus counts deliveries.
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS messages (
            seq              INTEGER PRIMARY KEY AUTOINCREMENT,
            message_id       TEXT    NOT NULL,
            body             BLOB    NOT NULL,
            content_type     TEXT,
            properties       TEXT,
            enqueued_at      INTEGER NOT NULL,
            visible_at       INTEGER NOT NULL,
            delivery_count   INTEGER NOT NULL DEFAULT 0,
            lock_token       TEXT,
            locked_until     INTEGER,
            state            INTEGER NOT NULL DEFAULT 0,  -- 0 active, 2 dead-lettered
            dl_reason        TEXT,
            dl_description   TEXT,
            dl_at            INTEGER
        );
        CREATE INDEX IF NOT EXISTS ix_messages_ready ON messages (state, visible_at, seq);
        CREATE TABLE IF NOT EXISTS dedup (
            message_id       TEXT PRIMARY KEY,
            expires_at       INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS ix_dedup_expires ON dedup (expires_at);
        CREATE TABLE IF NOT EXISTS counters (
            name             TEXT PRIMARY KEY,
            value            INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT OR IGNORE INTO counters (name, value) VALUES ('completed', 0);
        PRAGMA user_version = 1;
        """;

    private readonly string _connectionString;
    private readonly int _busyTimeoutMs;
    private readonly SemaphoreSlim _initLock = new(1, 1);
    private volatile bool _initialized;

    public EmbeddedQueueDatabase(EmbeddedQueueOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        FullPath = System.IO.Path.GetFullPath(options.Path);
        _busyTimeoutMs = (int)options.BusyTimeout.TotalMilliseconds;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = FullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            // Microsoft.Data.Sqlite also retries SQLITE_BUSY up to the command timeout.
            DefaultTimeout = Math.Max(1, (int)Math.Ceiling(options.BusyTimeout.TotalSeconds)),
        }.ToString();
    }

    public string FullPath { get; }

    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        if (!_initialized)
        {
            await InitializeAsync(cancellationToken).ConfigureAwait(false);
        }

        return await OpenRawAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        // Pooled connections keep the file (and its -wal/-shm) open; release them so the file can be moved or
        // deleted once the queue is closed.
        using (var connection = new SqliteConnection(_connectionString))
        {
            SqliteConnection.ClearPool(connection);
        }

        _initLock.Dispose();
    }

    private async Task<SqliteConnection> OpenRawAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            // busy_timeout makes SQLite itself wait for BEGIN IMMEDIATE; synchronous=FULL makes a committed
            // complete/dead-letter survive power loss, which matters more here than write throughput.
            await connection.ExecuteAsync(new CommandDefinition(
                string.Create(CultureInfo.InvariantCulture, $"PRAGMA busy_timeout = {_busyTimeoutMs}; PRAGMA synchronous = FULL;"),
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _initLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_initialized)
            {
                return;
            }

            var directory = System.IO.Path.GetDirectoryName(FullPath);
            if (!string.IsNullOrEmpty(directory))
            {
                Directory.CreateDirectory(directory);
            }

            var connection = await OpenRawAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                // WAL is a property of the file: set once, every later connection (any process) uses it.
                await connection.ExecuteAsync(new CommandDefinition("PRAGMA journal_mode = WAL;", cancellationToken: cancellationToken))
                    .ConfigureAwait(false);
                using var transaction = connection.BeginTransaction(deferred: false);
                await connection.ExecuteAsync(new CommandDefinition(Schema, transaction: transaction, cancellationToken: cancellationToken))
                    .ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }

            _initialized = true;
        }
        finally
        {
            _initLock.Release();
        }
    }
}
