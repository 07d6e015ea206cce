using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using Triage.Storage.Dialects;
using Triage.Storage.Migrations;

namespace Triage.Storage;

/// <summary>
/// The repository over either dialect. The SQL is shared: both SQLite (3.24+) and PostgreSQL (9.5+) understand
/// <c>INSERT … ON CONFLICT … DO UPDATE</c> with <c>excluded</c>, <c>@name</c> parameters and <c>LIMIT</c>.
/// </summary>
internal sealed class SqlResultsRepository(SqlDialect dialect, TimeProvider timeProvider) : IResultsRepository
{
    // Redelivery and reprocessing overwrite: the last write for a key wins.
    private const string UpsertResultSql = """
        INSERT INTO classification_results
            (document_id, model_version, label, confidence, probabilities, method,
             tokens_input, tokens_attended, processed_at, message_id, attempt)
        VALUES
            (@DocumentId, @ModelVersion, @Label, @Confidence, @Probabilities, @Method,
             @TokensInput, @TokensAttended, @ProcessedAt, @MessageId, @Attempt)
        ON CONFLICT (document_id, model_version) DO UPDATE SET
            label           = excluded.label,
            confidence      = excluded.confidence,
            probabilities   = excluded.probabilities,
            method          = excluded.method,
            tokens_input    = excluded.tokens_input,
            tokens_attended = excluded.tokens_attended,
            processed_at    = excluded.processed_at,
            message_id      = excluded.message_id,
            attempt         = excluded.attempt
        """;

    // Messages can arrive out of order, so the seen range only widens and the content is the most recently seen one.
    private const string UpsertDocumentSql = """
        INSERT INTO documents (document_id, content, content_sha256, content_type, first_seen_at, last_seen_at)
        VALUES (@DocumentId, @Content, @ContentSha256, @ContentType, @SeenAt, @SeenAt)
        ON CONFLICT (document_id) DO UPDATE SET
            content        = CASE WHEN excluded.last_seen_at >= documents.last_seen_at THEN excluded.content ELSE documents.content END,
            content_sha256 = CASE WHEN excluded.last_seen_at >= documents.last_seen_at THEN excluded.content_sha256 ELSE documents.content_sha256 END,
            content_type   = CASE WHEN excluded.last_seen_at >= documents.last_seen_at THEN excluded.content_type ELSE documents.content_type END,
            first_seen_at  = CASE WHEN excluded.first_seen_at < documents.first_seen_at THEN excluded.first_seen_at ELSE documents.first_seen_at END,
            last_seen_at   = CASE WHEN excluded.last_seen_at > documents.last_seen_at THEN excluded.last_seen_at ELSE documents.last_seen_at END
        """;

    private const string SelectResultSql = """
        SELECT document_id AS DocumentId, model_version AS ModelVersion, label AS Label, confidence AS Confidence,
               probabilities AS Probabilities, method AS Method, tokens_input AS TokensInput,
               tokens_attended AS TokensAttended, processed_at AS ProcessedAt, message_id AS MessageId, attempt AS Attempt
        FROM classification_results
        WHERE document_id = @DocumentId AND model_version = @ModelVersion
        """;

    private const string SelectResultsForDocumentsSql = """
        SELECT document_id AS DocumentId, model_version AS ModelVersion, label AS Label, confidence AS Confidence,
               probabilities AS Probabilities, method AS Method, tokens_input AS TokensInput,
               tokens_attended AS TokensAttended, processed_at AS ProcessedAt, message_id AS MessageId, attempt AS Attempt
        FROM classification_results
        WHERE document_id IN @Ids
        """;

    private const string DocumentColumns = """
        d.document_id AS DocumentId, d.content AS Content, d.content_sha256 AS ContentSha256,
        d.content_type AS ContentType, d.first_seen_at AS FirstSeenAt, d.last_seen_at AS LastSeenAt
        """;

    private const string MissingVersionCondition = """
        NOT EXISTS (SELECT 1 FROM classification_results r
                    WHERE r.document_id = d.document_id AND r.model_version = @ModelVersion)
        """;

    // Two texts rather than "@After IS NULL OR …", which would hide the key range from the planner.
    private const string FirstPageMissingSql =
        $"SELECT {DocumentColumns} FROM documents d WHERE {MissingVersionCondition} ORDER BY d.document_id LIMIT @Limit";

    private const string NextPageMissingSql =
        $"SELECT {DocumentColumns} FROM documents d WHERE d.document_id > @After AND {MissingVersionCondition} ORDER BY d.document_id LIMIT @Limit";

    private const string CountMissingSql = $"SELECT COUNT(*) FROM documents d WHERE {MissingVersionCondition}";

    public string Description => dialect.Description;

    public Task<MigrationResult> MigrateAsync(CancellationToken cancellationToken) =>
        new SchemaMigrator(dialect, timeProvider).MigrateAsync(cancellationToken);

    public Task<IReadOnlyList<AppliedMigration>> GetAppliedMigrationsAsync(CancellationToken cancellationToken) =>
        WithConnectionAsync<IReadOnlyList<AppliedMigration>>(async connection =>
        {
            var exists = await connection.ExecuteScalarAsync<long>(
                new CommandDefinition(dialect.MigrationsTableExistsSql, cancellationToken: cancellationToken)).ConfigureAwait(false);
            if (exists == 0)
                return [];
            var rows = await connection.QueryAsync<MigrationRow>(new CommandDefinition(
                "SELECT version AS Version, name AS Name, applied_at AS AppliedAt FROM schema_migrations ORDER BY version",
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            return rows.Select(r => new AppliedMigration(checked((int)r.Version), r.Name, dialect.FromDbTimestamp(r.AppliedAt))).ToList();
        }, cancellationToken);

    public Task UpsertAsync(IReadOnlyList<ClassificationResult> rows, CancellationToken cancellationToken) =>
        WriteBatchAsync([], rows, cancellationToken);

    public Task UpsertDocumentsAsync(IReadOnlyList<DocumentRecord> documents, CancellationToken cancellationToken) =>
        WriteBatchAsync(documents, [], cancellationToken);

    public async Task WriteBatchAsync(
        IReadOnlyList<DocumentRecord> documents,
        IReadOnlyList<ClassificationResult> results,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(results);
        if (documents.Count == 0 && results.Count == 0)
            return;

        // Build parameters (JSON, hashes) before taking the write lock, so the lock is held only for the SQL.
        var documentParameters = documents.Select(ToParameters).ToArray();
        var resultParameters = results.Select(ToParameters).ToArray();

        await WithConnectionAsync(async connection =>
        {
            var transaction = await dialect.BeginWriteAsync(connection, cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                // Dapper runs the statement once per element, all inside this transaction.
                if (documentParameters.Length > 0)
                {
                    await connection.ExecuteAsync(new CommandDefinition(
                        UpsertDocumentSql, documentParameters, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
                }

                if (resultParameters.Length > 0)
                {
                    await connection.ExecuteAsync(new CommandDefinition(
                        UpsertResultSql, resultParameters, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
                }

                // Until this returns nothing is durable; disposing the transaction without it rolls the batch back.
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return 0;
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    public Task<ClassificationResult?> GetResultAsync(string documentId, string modelVersion, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(documentId);
        ArgumentNullException.ThrowIfNull(modelVersion);
        return WithConnectionAsync(async connection =>
        {
            var row = await connection.QuerySingleOrDefaultAsync<ResultRow>(new CommandDefinition(
                SelectResultSql,
                new { DocumentId = documentId, ModelVersion = modelVersion },
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            return row is null ? null : ToResult(row);
        }, cancellationToken);
    }

    public Task<IReadOnlyList<ClassificationResult>> GetResultsForDocumentsAsync(
        IReadOnlyCollection<string> documentIds,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(documentIds);
        if (documentIds.Count == 0)
            return Task.FromResult<IReadOnlyList<ClassificationResult>>([]);
        return WithConnectionAsync<IReadOnlyList<ClassificationResult>>(async connection =>
        {
            // Dapper expands "IN @Ids" into one parameter per id on both dialects.
            var rows = await connection.QueryAsync<ResultRow>(new CommandDefinition(
                SelectResultsForDocumentsSql, new { Ids = documentIds.ToArray() }, cancellationToken: cancellationToken)).ConfigureAwait(false);
            return rows.Select(ToResult).ToList();
        }, cancellationToken);
    }

    public Task<IReadOnlyDictionary<string, long>> CountResultsByModelVersionAsync(CancellationToken cancellationToken) =>
        WithConnectionAsync<IReadOnlyDictionary<string, long>>(async connection =>
        {
            var rows = await connection.QueryAsync<CountRow>(new CommandDefinition(
                "SELECT model_version AS ModelVersion, COUNT(*) AS Count FROM classification_results GROUP BY model_version ORDER BY model_version",
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            // Sorted here too, so callers see byte order on both dialects.
            var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
            foreach (var row in rows)
                counts[row.ModelVersion] = row.Count;
            return counts;
        }, cancellationToken);

    public Task<long> CountDocumentsAsync(CancellationToken cancellationToken) =>
        WithConnectionAsync(connection => connection.ExecuteScalarAsync<long>(
            new CommandDefinition("SELECT COUNT(*) FROM documents", cancellationToken: cancellationToken)), cancellationToken);

    public Task<IReadOnlyList<StoredDocument>> GetDocumentsMissingVersionAsync(
        string modelVersion,
        int limit,
        string? afterDocumentId,
        CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelVersion);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return WithConnectionAsync<IReadOnlyList<StoredDocument>>(async connection =>
        {
            var rows = await connection.QueryAsync<DocumentRow>(new CommandDefinition(
                afterDocumentId is null ? FirstPageMissingSql : NextPageMissingSql,
                new { ModelVersion = modelVersion, Limit = limit, After = afterDocumentId },
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            return rows.Select(r => new StoredDocument(
                r.DocumentId, r.Content, r.ContentSha256, r.ContentType,
                dialect.FromDbTimestamp(r.FirstSeenAt), dialect.FromDbTimestamp(r.LastSeenAt))).ToList();
        }, cancellationToken);
    }

    public Task<long> CountDocumentsMissingVersionAsync(string modelVersion, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelVersion);
        return WithConnectionAsync(connection => connection.ExecuteScalarAsync<long>(new CommandDefinition(
            CountMissingSql, new { ModelVersion = modelVersion }, cancellationToken: cancellationToken)), cancellationToken);
    }

    public ValueTask DisposeAsync() => dialect.DisposeAsync();

    private async Task<T> WithConnectionAsync<T>(Func<DbConnection, Task<T>> action, CancellationToken cancellationToken)
    {
        var connection = await dialect.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
            return await action(connection).ConfigureAwait(false);
    }

    private object ToParameters(ClassificationResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return new ResultParameters
        {
            DocumentId = r.DocumentId,
            ModelVersion = r.ModelVersion,
            Label = r.Label,
            Confidence = r.Confidence,
            Probabilities = JsonSerializer.Serialize(r.Probabilities, StorageJsonContext.Default.IReadOnlyDictionaryStringDouble),
            Method = r.Method,
            TokensInput = r.TokensInput,
            TokensAttended = r.TokensAttended,
            ProcessedAt = dialect.ToDbTimestamp(r.ProcessedAt),
            MessageId = r.MessageId,
            Attempt = r.Attempt,
        };
    }

    private object ToParameters(DocumentRecord d)
    {
        ArgumentNullException.ThrowIfNull(d);
        ArgumentNullException.ThrowIfNull(d.Content);
        return new DocumentParameters
        {
            DocumentId = d.DocumentId,
            Content = d.Content,
            ContentSha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(d.Content))),
            ContentType = d.ContentType,
            SeenAt = dialect.ToDbTimestamp(d.SeenAt),
        };
    }

    private ClassificationResult ToResult(ResultRow r) => new(
        r.DocumentId,
        r.ModelVersion,
        r.Label,
        r.Confidence,
        JsonSerializer.Deserialize(r.Probabilities, StorageJsonContext.Default.DictionaryStringDouble) ?? [],
        r.Method,
        checked((int)r.TokensInput),
        r.TokensAttended,
        dialect.FromDbTimestamp(r.ProcessedAt),
        r.MessageId,
        checked((int)r.Attempt));

    // Parameter and row shapes for Dapper. Integers are read as long because SQLite returns every integer as Int64;
    // timestamps are object because each dialect stores them differently (text vs timestamptz).
    private sealed class ResultParameters
    {
        public required string DocumentId { get; init; }
        public required string ModelVersion { get; init; }
        public required string Label { get; init; }
        public required double Confidence { get; init; }
        public required string Probabilities { get; init; }
        public required string Method { get; init; }
        public required int TokensInput { get; init; }
        public required long TokensAttended { get; init; }
        public required object ProcessedAt { get; init; }
        public required string? MessageId { get; init; }
        public required int Attempt { get; init; }
    }

    private sealed class DocumentParameters
    {
        public required string DocumentId { get; init; }
        public required string Content { get; init; }
        public required string ContentSha256 { get; init; }
        public required string? ContentType { get; init; }
        public required object SeenAt { get; init; }
    }

    private sealed class ResultRow
    {
        public string DocumentId { get; set; } = "";
        public string ModelVersion { get; set; } = "";
        public string Label { get; set; } = "";
        public double Confidence { get; set; }
        public string Probabilities { get; set; } = "{}";
        public string Method { get; set; } = "";
        public long TokensInput { get; set; }
        public long TokensAttended { get; set; }
        public object ProcessedAt { get; set; } = "";
        public string? MessageId { get; set; }
        public long Attempt { get; set; }
    }

    private sealed class DocumentRow
    {
        public string DocumentId { get; set; } = "";
        public string Content { get; set; } = "";
        public string ContentSha256 { get; set; } = "";
        public string? ContentType { get; set; }
        public object FirstSeenAt { get; set; } = "";
        public object LastSeenAt { get; set; } = "";
    }

    private sealed class CountRow
    {
        public string ModelVersion { get; set; } = "";
        public long Count { get; set; }
    }

    private sealed class MigrationRow
    {
        public long Version { get; set; }
        public string Name { get; set; } = "";
        public object AppliedAt { get; set; } = "";
    }
}
