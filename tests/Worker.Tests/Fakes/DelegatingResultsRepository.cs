using Triage.Storage;

namespace Triage.Worker.Tests.Fakes;

/// <summary>
/// Passes every call to a real repository; fault-injecting test doubles override only the call they break
/// (usually <see cref="WriteBatchAsync"/>), so the rest of the pipeline runs against the real database.
/// </summary>
internal abstract class DelegatingResultsRepository(IResultsRepository inner) : IResultsRepository
{
    protected IResultsRepository Inner { get; } = inner;

    public string Description => Inner.Description;

    public virtual Task WriteBatchAsync(IReadOnlyList<DocumentRecord> documents, IReadOnlyList<ClassificationResult> results, CancellationToken cancellationToken) =>
        Inner.WriteBatchAsync(documents, results, cancellationToken);

    public Task<MigrationResult> MigrateAsync(CancellationToken cancellationToken) => Inner.MigrateAsync(cancellationToken);

    public Task<IReadOnlyList<AppliedMigration>> GetAppliedMigrationsAsync(CancellationToken cancellationToken) => Inner.GetAppliedMigrationsAsync(cancellationToken);

    public Task UpsertAsync(IReadOnlyList<ClassificationResult> rows, CancellationToken cancellationToken) => Inner.UpsertAsync(rows, cancellationToken);

    public Task UpsertDocumentsAsync(IReadOnlyList<DocumentRecord> documents, CancellationToken cancellationToken) => Inner.UpsertDocumentsAsync(documents, cancellationToken);

    public Task<ClassificationResult?> GetResultAsync(string documentId, string modelVersion, CancellationToken cancellationToken) => Inner.GetResultAsync(documentId, modelVersion, cancellationToken);

    public Task<IReadOnlyDictionary<string, long>> CountResultsByModelVersionAsync(CancellationToken cancellationToken) => Inner.CountResultsByModelVersionAsync(cancellationToken);

    public Task<long> CountDocumentsAsync(CancellationToken cancellationToken) => Inner.CountDocumentsAsync(cancellationToken);

    public Task<IReadOnlyList<StoredDocument>> GetDocumentsMissingVersionAsync(string modelVersion, int limit, string? afterDocumentId, CancellationToken cancellationToken) =>
        Inner.GetDocumentsMissingVersionAsync(modelVersion, limit, afterDocumentId, cancellationToken);

    public Task<long> CountDocumentsMissingVersionAsync(string modelVersion, CancellationToken cancellationToken) => Inner.CountDocumentsMissingVersionAsync(modelVersion, cancellationToken);

    public virtual ValueTask DisposeAsync() => Inner.DisposeAsync();
}
