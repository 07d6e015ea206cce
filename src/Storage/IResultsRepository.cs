namespace Triage.Storage;

/// <summary>
/// Where classification results and the documents behind them are kept. One implementation serves SQLite and
/// PostgreSQL; create it with <see cref="ResultsRepositoryFactory"/>. Safe for concurrent use: every call takes its
/// own pooled connection.
/// </summary>
internal interface IResultsRepository : IAsyncDisposable
{
    /// <summary>Provider and connection string with secrets removed, for start-up logs.</summary>
    string Description { get; }

    /// <summary>
    /// Applies the migrations the database lacks, each in its own transaction, under a lock that makes concurrent
    /// callers (two workers starting at once) wait rather than race. Running it again applies nothing.
    /// </summary>
    Task<MigrationResult> MigrateAsync(CancellationToken cancellationToken);

    /// <summary>Rows of <c>schema_migrations</c>, by version; empty before the first migration.</summary>
    Task<IReadOnlyList<AppliedMigration>> GetAppliedMigrationsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Inserts or replaces results keyed by (document id, model version), the whole batch in one transaction.
    /// Returns only after COMMIT, so a caller may complete the queue messages behind the batch once it returns; if it
    /// throws, nothing of the batch was written.
    /// </summary>
    Task UpsertAsync(IReadOnlyList<ClassificationResult> rows, CancellationToken cancellationToken);

    /// <summary>Inserts or updates documents by id, in one transaction.</summary>
    Task UpsertDocumentsAsync(IReadOnlyList<DocumentRecord> documents, CancellationToken cancellationToken);

    /// <summary>
    /// Upserts documents and their results in one transaction (one commit per micro-batch instead of two), with the
    /// same guarantees as <see cref="UpsertAsync"/>.
    /// </summary>
    Task WriteBatchAsync(
        IReadOnlyList<DocumentRecord> documents,
        IReadOnlyList<ClassificationResult> results,
        CancellationToken cancellationToken);

    /// <summary>The result for one key, or null.</summary>
    Task<ClassificationResult?> GetResultAsync(string documentId, string modelVersion, CancellationToken cancellationToken);

    /// <summary>Number of result rows per model version, ordered by model version.</summary>
    Task<IReadOnlyDictionary<string, long>> CountResultsByModelVersionAsync(CancellationToken cancellationToken);

    /// <summary>Number of rows in <c>documents</c>.</summary>
    Task<long> CountDocumentsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Up to <paramref name="limit"/> documents without a result for <paramref name="modelVersion"/>, ordered by
    /// document id (byte order) and starting after <paramref name="afterDocumentId"/>: keyset pagination, so a job
    /// that was killed resumes from the last id it finished.
    /// </summary>
    Task<IReadOnlyList<StoredDocument>> GetDocumentsMissingVersionAsync(
        string modelVersion,
        int limit,
        string? afterDocumentId,
        CancellationToken cancellationToken);

    /// <summary>Number of documents without a result for <paramref name="modelVersion"/>.</summary>
    Task<long> CountDocumentsMissingVersionAsync(string modelVersion, CancellationToken cancellationToken);

    /// <summary>
    /// Every result row (all model versions) of the given documents, for comparing model versions. The default asks
    /// <see cref="GetResultAsync"/> once per document and version; <see cref="SqlResultsRepository"/> uses one query.
    /// </summary>
    async Task<IReadOnlyList<ClassificationResult>> GetResultsForDocumentsAsync(
        IReadOnlyCollection<string> documentIds,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(documentIds);
        var versions = await CountResultsByModelVersionAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<ClassificationResult>();
        foreach (var id in documentIds)
        {
            foreach (var version in versions.Keys)
            {
                if (await GetResultAsync(id, version, cancellationToken).ConfigureAwait(false) is { } row)
                    rows.Add(row);
            }
        }

        return rows;
    }
}
