using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Triage.Classifier.Inference;
using Triage.Storage;
using Triage.Worker.Batching;
using Triage.Worker.Cli;
using Triage.Worker.Pipeline;

namespace Triage.Worker.Reclassify;

/// <summary>The choices of one <c>reclassify</c> run besides the model and the source.</summary>
internal sealed record ReclassifySettings
{
    public const double DefaultLowConfidence = 0.5;
    public const int DefaultPageSize = 256;

    /// <summary>Classify and report, write nothing.</summary>
    public bool DryRun { get; init; }

    /// <summary>Classify at most this many documents; null: all.</summary>
    public long? Limit { get; init; }

    /// <summary>Compare labels with this version; null: each document's most recent other version.</summary>
    public string? CompareTo { get; init; }

    /// <summary>New-version confidences below this are counted as low. Default 0.5.</summary>
    public double LowConfidence { get; init; } = DefaultLowConfidence;

    /// <summary>Documents read from the source per page; batches never span pages, so every page is written (or
    /// not) before the next one is read. Default 256.</summary>
    public int PageSize { get; init; } = DefaultPageSize;
}

/// <summary>
/// Runs a model version over known documents: page by page from an <see cref="IReclassifySource"/>, tokenised in
/// parallel, grouped by the worker's <see cref="TokenBudgetBatchBuilder{T}"/>, classified by the worker's
/// <see cref="IBatchClassifier"/>, and written one transaction per batch with the repository's idempotent upsert
/// keyed by (document, model version). Rows of other versions are never touched. A stop between batches loses at
/// most the batch in hand, which the next run picks up because its row is missing.
/// </summary>
internal sealed class ReclassifyJob(
    IBatchClassifier classifier,
    IResultsRepository repository,
    IReclassifySource source,
    BatchingOptions batching,
    ReclassifySettings settings,
    TimeProvider time,
    ILogger logger)
{
    private const int WriteAttempts = 4;

    public async Task<ReclassifyReport> RunAsync(Action<ReclassifyProgress>? progress, CancellationToken cancellationToken)
    {
        var model = classifier.Info;
        var report = new ReclassifyReportBuilder(model.Version, model.Method, source.Description, settings.DryRun, settings.CompareTo, settings.LowConfidence);
        var clock = Stopwatch.StartNew();
        var interrupted = false;
        try
        {
            var available = await source.CountAsync(cancellationToken).ConfigureAwait(false);
            report.Total = settings.Limit is { } cap ? Math.Min(cap, available) : available;
            ReclassifyLog.Started(logger, model.Version, model.Method, model.Device, report.Total, source.Description, settings.DryRun ? " (dry run: nothing is written)" : "");
            void Report() => progress?.Invoke(new ReclassifyProgress(
                Math.Min(report.Processed + report.AlreadyDone + report.Skipped, Math.Max(report.Total, report.Processed)), report.Total,
                report.Processed, report.TokensInput, report.TokensAttended, clock.Elapsed));

            long taken = 0;
            var limit = settings.Limit ?? long.MaxValue;
            while (taken < limit)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var page = await source.NextPageAsync((int)Math.Min(settings.PageSize, limit - taken), cancellationToken).ConfigureAwait(false);
                if (page.IsEnd)
                {
                    break;
                }

                if (source is FileSource files)
                {
                    foreach (var problem in files.Problems)
                    {
                        ReclassifyLog.InputProblem(logger, problem);
                    }

                    files.Problems.Clear();
                }

                taken += page.Documents.Count;
                report.AddSkipped(page.AlreadyDone, page.Invalid);
                await ClassifyPageAsync(page.Documents, report, Report, cancellationToken).ConfigureAwait(false);
                Report();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            interrupted = true;
        }

        var result = report.Build(clock.Elapsed, interrupted);
        ReclassifyLog.Finished(logger, interrupted ? "interrupted" : "finished", result.Processed, result.Written, result.Changed, result.DocumentsPerSecond);
        return result;
    }

    private async Task ClassifyPageAsync(IReadOnlyList<SourceDocument> documents, ReclassifyReportBuilder report, Action progress, CancellationToken cancellationToken)
    {
        // Tokenising is thread-safe and the slow part outside the model; the model itself runs on this one thread.
        var prepared = documents.AsParallel().AsOrdered().WithCancellation(cancellationToken)
            .Select(d => (Document: d, Prepared: classifier.Prepare(d.Text))).ToArray();
        var previous = (await repository.GetResultsForDocumentsAsync(documents.Select(d => d.Id).ToList(), cancellationToken).ConfigureAwait(false))
            .GroupBy(r => r.DocumentId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => report.PickPrevious(g), StringComparer.Ordinal);

        // No wait: the whole page is at hand, so batches close on budget alone, exactly as in the worker.
        var builder = new TokenBudgetBatchBuilder<(SourceDocument Document, PreparedDocument Prepared)>(batching.MaxBatchTokens, batching.MaxBatchDocuments, TimeSpan.Zero);
        var now = time.GetUtcNow();
        foreach (var item in prepared)
        {
            if (item.Prepared.DocumentTokens == 0)
            {
                ReclassifyLog.EmptyDocument(logger, item.Document.Id);
                report.AddSkipped(0, 1);
                continue;
            }

            foreach (var batch in builder.Add(item, ClassifyCommand.Cost(item.Prepared), now))
            {
                await RunBatchAsync(batch, previous, report, cancellationToken).ConfigureAwait(false);
                progress();
            }
        }

        foreach (var batch in builder.FlushAll())
        {
            await RunBatchAsync(batch, previous, report, cancellationToken).ConfigureAwait(false);
            progress();
        }
    }

    private async Task RunBatchAsync(
        DocumentBatch<(SourceDocument Document, PreparedDocument Prepared)> batch,
        Dictionary<string, ClassificationResult?> previous,
        ReclassifyReportBuilder report,
        CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var model = classifier.Info;
        var predictions = classifier.Classify(batch.Items.Select(i => i.Prepared).ToList());
        var processedAt = time.GetUtcNow();
        var rows = batch.Items.Zip(predictions, (item, p) => new ClassificationResult(
            item.Document.Id, model.Version, p.Label, p.Confidence, p.Probabilities, model.Method,
            p.InputTokens, (long)Math.Round(p.TokensAttended), processedAt, MessageId: null, Attempt: 0)).ToList();
        if (!settings.DryRun)
        {
            // Once classified, the batch is written even if a stop was asked for meanwhile: the work is done.
            await WriteAsync(rows).ConfigureAwait(false);
        }

        report.AddBatch(rows.Select(r => (r, previous.GetValueOrDefault(r.DocumentId))).ToList(), written: !settings.DryRun);
    }

    private async Task WriteAsync(IReadOnlyList<ClassificationResult> rows)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await repository.WriteBatchAsync([], rows, CancellationToken.None).ConfigureAwait(false);
                return;
            }
            catch (Exception exception) when (attempt < WriteAttempts && TransientErrors.IsTransient(exception))
            {
                // A live worker holds the SQLite write lock for one batch at a time; this only waits out a long one.
                await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt), time).ConfigureAwait(false);
            }
        }
    }
}
