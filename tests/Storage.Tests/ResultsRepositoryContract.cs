using Triage.Storage.Migrations;

namespace Triage.Storage.Tests;

/// <summary>
/// The behaviour both dialects must share, run once per dialect by the derived classes against a real, empty
/// database per test.
/// </summary>
public abstract class ResultsRepositoryContract : IAsyncLifetime
{
    private protected static readonly DateTimeOffset T0 = new(2025, 3, 4, 5, 6, 7, 123, TimeSpan.Zero);

    private readonly List<IResultsRepository> _repositories = [];

    private protected StorageOptions Options { get; private set; } = new();

    private protected IResultsRepository Repository { get; private set; } = null!;

    /// <summary>Options pointing at a new, empty database.</summary>
    private protected abstract Task<StorageOptions> CreateOptionsAsync();

    private protected virtual Task CleanupAsync() => Task.CompletedTask;

    public async Task InitializeAsync()
    {
        Options = await CreateOptionsAsync();
        Repository = CreateRepository();
    }

    public async Task DisposeAsync()
    {
        foreach (var repository in _repositories)
            await repository.DisposeAsync();
        await CleanupAsync();
    }

    /// <summary>Another repository on the same database, as a second worker process would have.</summary>
    private protected IResultsRepository CreateRepository()
    {
        var repository = ResultsRepositoryFactory.Create(Options);
        _repositories.Add(repository);
        return repository;
    }

    private protected static ClassificationResult Result(
        string documentId,
        string modelVersion = "v1",
        string label = "invoice",
        double confidence = 0.9,
        int attempt = 1,
        DateTimeOffset? processedAt = null) =>
        new(
            documentId,
            modelVersion,
            label,
            confidence,
            new Dictionary<string, double> { [label] = confidence, ["other"] = 1 - confidence },
            "ptc-0.5",
            TokensInput: 512,
            TokensAttended: 3_000_000_000L, // beyond int range on purpose: the column is bigint
            processedAt ?? T0,
            MessageId: "msg-" + documentId,
            attempt);

    private protected static DocumentRecord Document(string documentId, DateTimeOffset? seenAt = null, string? content = null) =>
        new(documentId, content ?? "text of " + documentId, "text/plain", seenAt ?? T0);

    [Fact]
    public async Task Migrate_applies_every_version_once_and_a_second_run_applies_nothing()
    {
        var expected = SchemaMigrator.Load(Options.IsPostgres ? "postgres" : "sqlite").Select(m => m.Version).ToList();
        Assert.Empty(await Repository.GetAppliedMigrationsAsync(CancellationToken.None));

        var first = await Repository.MigrateAsync(CancellationToken.None);
        var second = await Repository.MigrateAsync(CancellationToken.None);

        Assert.Equal(expected, first.Applied);
        Assert.Equal(expected[^1], first.SchemaVersion);
        Assert.Empty(second.Applied);
        Assert.Equal(expected[^1], second.SchemaVersion);
        var applied = await Repository.GetAppliedMigrationsAsync(CancellationToken.None);
        Assert.Equal(expected, applied.Select(m => m.Version));
        Assert.Equal(["classification_results", "documents"], applied.Select(m => m.Name));
        Assert.All(applied, m => Assert.Equal(TimeSpan.Zero, m.AppliedAt.Offset));
    }

    [Fact]
    public async Task Migrate_from_two_processes_at_once_applies_each_version_exactly_once()
    {
        var other = CreateRepository();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Task.Run: SQLite's async methods complete synchronously, so without it the two would simply take turns.
        var a = Task.Run(async () => { await gate.Task; return await Repository.MigrateAsync(CancellationToken.None); });
        var b = Task.Run(async () => { await gate.Task; return await other.MigrateAsync(CancellationToken.None); });
        gate.SetResult();
        var results = await Task.WhenAll(a, b);

        var expected = SchemaMigrator.Load(Options.IsPostgres ? "postgres" : "sqlite").Select(m => m.Version).ToList();
        Assert.Equal(expected, results.SelectMany(r => r.Applied).Order());
        Assert.All(results, r => Assert.Equal(expected[^1], r.SchemaVersion));
        Assert.Equal(expected, (await other.GetAppliedMigrationsAsync(CancellationToken.None)).Select(m => m.Version));
    }

    [Fact]
    public async Task Upsert_round_trips_every_column()
    {
        await Repository.MigrateAsync(CancellationToken.None);
        var localTime = new DateTimeOffset(2025, 3, 4, 7, 6, 7, 123, TimeSpan.FromHours(2)); // T0 in UTC+2
        var written = Result("doc-1", processedAt: localTime) with { MessageId = null };

        await Repository.UpsertAsync([written], CancellationToken.None);
        var read = await Repository.GetResultAsync("doc-1", "v1", CancellationToken.None);

        Assert.NotNull(read);
        Assert.Equal(written.DocumentId, read.DocumentId);
        Assert.Equal(written.ModelVersion, read.ModelVersion);
        Assert.Equal(written.Label, read.Label);
        Assert.Equal(written.Confidence, read.Confidence);
        Assert.Equal(written.Probabilities.OrderBy(p => p.Key), read.Probabilities.OrderBy(p => p.Key));
        Assert.Equal(written.Method, read.Method);
        Assert.Equal(written.TokensInput, read.TokensInput);
        Assert.Equal(written.TokensAttended, read.TokensAttended);
        Assert.Equal(T0, read.ProcessedAt);
        Assert.Equal(TimeSpan.Zero, read.ProcessedAt.Offset);
        Assert.Null(read.MessageId);
        Assert.Equal(written.Attempt, read.Attempt);
        Assert.Null(await Repository.GetResultAsync("doc-1", "v2", CancellationToken.None));
    }

    [Fact]
    public async Task Upsert_of_the_same_key_twice_keeps_one_row_with_the_later_values()
    {
        await Repository.MigrateAsync(CancellationToken.None);

        await Repository.UpsertAsync([Result("doc-1", label: "invoice", confidence: 0.6, attempt: 1)], CancellationToken.None);
        await Repository.UpsertAsync(
            [Result("doc-1", label: "contract", confidence: 0.8, attempt: 2, processedAt: T0.AddMinutes(1))],
            CancellationToken.None);

        var counts = await Repository.CountResultsByModelVersionAsync(CancellationToken.None);
        Assert.Equal(1, counts["v1"]);
        var read = await Repository.GetResultAsync("doc-1", "v1", CancellationToken.None);
        Assert.NotNull(read);
        Assert.Equal("contract", read.Label);
        Assert.Equal(0.8, read.Confidence);
        Assert.Equal(2, read.Attempt);
        Assert.Equal(T0.AddMinutes(1), read.ProcessedAt);
        Assert.Equal(0.8, read.Probabilities["contract"]);
        Assert.False(read.Probabilities.ContainsKey("invoice"));
    }

    [Fact]
    public async Task Upsert_of_the_same_key_from_two_workers_at_once_keeps_one_row()
    {
        await Repository.MigrateAsync(CancellationToken.None);
        var other = CreateRepository();
        var batch = Enumerable.Range(0, 20).Select(i => Result($"doc-{i:D2}")).ToList();

        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var a = Task.Run(async () => { await gate.Task; await Repository.UpsertAsync(batch, CancellationToken.None); });
        var b = Task.Run(async () => { await gate.Task; await other.UpsertAsync(batch, CancellationToken.None); });
        gate.SetResult();
        await Task.WhenAll(a, b);

        Assert.Equal(20, (await Repository.CountResultsByModelVersionAsync(CancellationToken.None))["v1"]);
    }

    [Fact]
    public async Task Upsert_of_a_batch_with_a_bad_row_commits_nothing_of_that_batch()
    {
        await Repository.MigrateAsync(CancellationToken.None);
        await Repository.UpsertAsync([Result("doc-1", label: "before")], CancellationToken.None);

        // The second row breaks the confidence check after the first row (an update of doc-1) has been executed.
        var batch = new[] { Result("doc-1", label: "after"), Result("doc-2", confidence: 1.5), Result("doc-3") };
        var error = await Assert.ThrowsAnyAsync<Exception>(() => Repository.UpsertAsync(batch, CancellationToken.None));

        Assert.False(TransientErrors.IsTransient(error), error.ToString());
        Assert.Equal(1, (await Repository.CountResultsByModelVersionAsync(CancellationToken.None))["v1"]);
        Assert.Equal("before", (await Repository.GetResultAsync("doc-1", "v1", CancellationToken.None))?.Label);
        Assert.Null(await Repository.GetResultAsync("doc-3", "v1", CancellationToken.None));
    }

    [Fact]
    public async Task Write_batch_with_a_bad_result_rolls_back_its_documents_too()
    {
        await Repository.MigrateAsync(CancellationToken.None);

        await Assert.ThrowsAnyAsync<Exception>(() => Repository.WriteBatchAsync(
            [Document("doc-1")], [Result("doc-1", confidence: -0.1)], CancellationToken.None));
        Assert.Equal(0, await Repository.CountDocumentsAsync(CancellationToken.None));

        await Repository.WriteBatchAsync([Document("doc-1")], [Result("doc-1")], CancellationToken.None);
        Assert.Equal(1, await Repository.CountDocumentsAsync(CancellationToken.None));
        Assert.Equal(0, await Repository.CountDocumentsMissingVersionAsync("v1", CancellationToken.None));
    }

    [Fact]
    public async Task Document_upsert_keeps_one_row_widens_the_seen_range_and_keeps_the_latest_content()
    {
        await Repository.MigrateAsync(CancellationToken.None);

        await Repository.UpsertDocumentsAsync([Document("doc-1", T0.AddHours(1), "middle")], CancellationToken.None);
        await Repository.UpsertDocumentsAsync([Document("doc-1", T0.AddHours(2), "latest")], CancellationToken.None);
        await Repository.UpsertDocumentsAsync([Document("doc-1", T0, "earliest, redelivered late")], CancellationToken.None);

        Assert.Equal(1, await Repository.CountDocumentsAsync(CancellationToken.None));
        var stored = Assert.Single(await Repository.GetDocumentsMissingVersionAsync("v1", 10, null, CancellationToken.None));
        Assert.Equal("latest", stored.Content);
        Assert.Equal("text/plain", stored.ContentType);
        Assert.Equal(T0, stored.FirstSeenAt);
        Assert.Equal(T0.AddHours(2), stored.LastSeenAt);
        // SHA-256 of UTF-8 "latest", lower-case hex.
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("latest"u8)), stored.ContentSha256);
    }

    [Fact]
    public async Task Documents_missing_a_version_page_in_byte_order_and_resume_after_the_last_id()
    {
        await Repository.MigrateAsync(CancellationToken.None);
        // Mixed case, digits and punctuation: a locale collation would order these differently from byte order.
        var ids = Enumerable.Range(0, 23).Select(i => (i % 3) switch { 0 => $"a-{i:D2}", 1 => $"B_{i:D2}", _ => $"{i:D2}.z" }).ToList();
        await Repository.UpsertDocumentsAsync(ids.Select(id => Document(id)).ToList(), CancellationToken.None);
        var done = ids.Where((_, i) => i % 4 == 0).ToList();
        await Repository.UpsertAsync(done.Select(id => Result(id, "v2")).ToList(), CancellationToken.None);
        await Repository.UpsertAsync([Result(ids[1], "v1")], CancellationToken.None); // another version does not count
        var expected = ids.Except(done).Order(StringComparer.Ordinal).ToList();

        var seen = new List<string>();
        string? after = null;
        while (true)
        {
            var page = await Repository.GetDocumentsMissingVersionAsync("v2", 5, after, CancellationToken.None);
            if (page.Count == 0)
                break;
            Assert.True(page.Count <= 5);
            seen.AddRange(page.Select(d => d.DocumentId));
            after = page[^1].DocumentId;
        }

        Assert.Equal(expected, seen);
        Assert.Equal(expected.Count, await Repository.CountDocumentsMissingVersionAsync("v2", CancellationToken.None));
        Assert.Equal(ids.Count, await Repository.CountDocumentsMissingVersionAsync("v3", CancellationToken.None));

        // A job killed after expected[6] resumes there; finishing a page removes it from the next query.
        var resumed = await Repository.GetDocumentsMissingVersionAsync("v2", 100, expected[6], CancellationToken.None);
        Assert.Equal(expected.Skip(7), resumed.Select(d => d.DocumentId));
        await Repository.UpsertAsync(resumed.Select(d => Result(d.DocumentId, "v2")).ToList(), CancellationToken.None);
        Assert.Equal(7, await Repository.CountDocumentsMissingVersionAsync("v2", CancellationToken.None));
    }

    [Fact]
    public async Task Counts_are_per_model_version_and_documents_are_counted_once()
    {
        await Repository.MigrateAsync(CancellationToken.None);
        Assert.Empty(await Repository.CountResultsByModelVersionAsync(CancellationToken.None));
        Assert.Equal(0, await Repository.CountDocumentsAsync(CancellationToken.None));

        await Repository.WriteBatchAsync(
            [Document("a"), Document("b"), Document("c"), Document("a")],
            [Result("a", "v1"), Result("b", "v1"), Result("c", "v1"), Result("a", "v2"), Result("a", "v1")],
            CancellationToken.None);

        var counts = await Repository.CountResultsByModelVersionAsync(CancellationToken.None);
        Assert.Equal(["v1", "v2"], counts.Keys);
        Assert.Equal(3, counts["v1"]);
        Assert.Equal(1, counts["v2"]);
        Assert.Equal(3, await Repository.CountDocumentsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Open_migrates_when_MigrateOnStart_is_set_and_not_otherwise()
    {
        Options.MigrateOnStart = false;
        await using (var unmigrated = await ResultsRepositoryFactory.OpenAsync(Options, CancellationToken.None))
            Assert.Empty(await unmigrated.GetAppliedMigrationsAsync(CancellationToken.None));

        Options.MigrateOnStart = true;
        await using var migrated = await ResultsRepositoryFactory.OpenAsync(Options, CancellationToken.None);
        Assert.NotEmpty(await migrated.GetAppliedMigrationsAsync(CancellationToken.None));
        Assert.Equal(0, await migrated.CountDocumentsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Cancelled_upsert_throws_and_writes_nothing()
    {
        await Repository.MigrateAsync(CancellationToken.None);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => Repository.UpsertAsync([Result("doc-1")], cancelled.Token));

        Assert.False(TransientErrors.IsTransient(error));
        Assert.Empty(await Repository.CountResultsByModelVersionAsync(CancellationToken.None));
    }
}
