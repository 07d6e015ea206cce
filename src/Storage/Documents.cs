namespace Triage.Storage;

/// <summary>A document as the worker saw it, to be upserted into <c>documents</c>.</summary>
/// <param name="DocumentId">Primary key.</param>
/// <param name="Content">The text that was classified; its SHA-256 is computed on write.</param>
/// <param name="ContentType">MIME type, when the message said.</param>
/// <param name="SeenAt">When it was seen; widens the stored first/last-seen range.</param>
internal sealed record DocumentRecord(string DocumentId, string Content, string? ContentType, DateTimeOffset SeenAt);

/// <summary>A row of <c>documents</c>.</summary>
internal sealed record StoredDocument(
    string DocumentId,
    string Content,
    string ContentSha256,
    string? ContentType,
    DateTimeOffset FirstSeenAt,
    DateTimeOffset LastSeenAt);

/// <summary>A row of <c>schema_migrations</c>.</summary>
internal sealed record AppliedMigration(int Version, string Name, DateTimeOffset AppliedAt);

/// <summary>What <see cref="IResultsRepository.MigrateAsync"/> did.</summary>
/// <param name="SchemaVersion">Highest version applied to the database after the call (0: none).</param>
/// <param name="Applied">Versions this call applied, in order; empty when the schema was already current.</param>
internal sealed record MigrationResult(int SchemaVersion, IReadOnlyList<int> Applied);
