using Microsoft.Extensions.Logging.Abstractions;
using Triage.Worker.Batching;
using Triage.Worker.Pipeline;
using Triage.Worker.Reclassify;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Reclassify;

/// <summary>The job itself: stopping half-way and starting again, and the progress line.</summary>
public sealed class ReclassifyJobTests
{
    [Fact]
    public async Task Cancelled_half_way_then_restarted_it_continues_and_writes_no_document_twice()
    {
        using var data = new TempDirectory();
        const int count = 40;
        await ReclassifyData.SeedAsync(data.Path, count);
        var firstClock = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var secondClock = new FakeTimeProvider(new DateTimeOffset(2031, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var classifier = TriageBatchClassifier.Load(TestModel.SharedPath, "cpu", 1);
        var batching = new BatchingOptions { MaxBatchDocuments = 4 };
        var settings = new ReclassifySettings { PageSize = 8 };

        ReclassifyReport first;
        using (var stop = new CancellationTokenSource())
        {
            await using var repository = WorkerHost.OpenResults(data.Path);
            var job = new ReclassifyJob(classifier, repository, new DatabaseSource(repository, TestModel.Version), batching, settings, firstClock, NullLogger.Instance);
            first = await job.RunAsync(p =>
            {
                if (p.Processed >= 10)
                {
                    stop.Cancel(); // as SIGTERM does: the batch in hand is written, then the job stops
                }
            }, stop.Token);
        }

        Assert.True(first.Interrupted);
        Assert.InRange(first.Written, 10, count - 1);
        var afterFirst = await ReclassifyData.AllRowsAsync(data.Path, count);
        Assert.Equal(first.Written, afterFirst.Keys.Count(k => k.Version == TestModel.Version));

        ReclassifyReport second;
        await using (var repository = WorkerHost.OpenResults(data.Path))
        {
            var job = new ReclassifyJob(classifier, repository, new DatabaseSource(repository, TestModel.Version), batching, settings, secondClock, NullLogger.Instance);
            second = await job.RunAsync(null, CancellationToken.None);
        }

        Assert.False(second.Interrupted);
        Assert.Equal(count - first.Written, second.Total);
        Assert.Equal(count - first.Written, second.Written);

        await using var results = WorkerHost.OpenResults(data.Path);
        var rows = (await results.GetResultsForDocumentsAsync(Enumerable.Range(0, count).Select(ReclassifyData.DocumentId).ToList(), CancellationToken.None))
            .Where(r => r.ModelVersion == TestModel.Version).ToList();
        Assert.Equal(count, rows.Count);
        Assert.Equal(count, rows.Select(r => r.DocumentId).Distinct().Count());
        Assert.Equal(first.Written, rows.Count(r => r.ProcessedAt == firstClock.GetUtcNow()));   // the first run's rows were not rewritten
        Assert.Equal(second.Written, rows.Count(r => r.ProcessedAt == secondClock.GetUtcNow()));
        foreach (var (key, row) in afterFirst)
        {
            Assert.Equal(row, (await ReclassifyData.AllRowsAsync(data.Path, count))[key]);
        }
    }

    [Fact]
    public void The_progress_line_has_counts_rate_eta_and_tokens()
    {
        var progress = new ReclassifyProgress(Done: 50, Total: 200, Processed: 50, TokensInput: 1000, TokensAttended: 800, Elapsed: TimeSpan.FromSeconds(10));
        Assert.Equal(5, progress.DocumentsPerSecond);
        Assert.Equal(TimeSpan.FromSeconds(30), progress.Remaining);
        Assert.Equal("50/200 docs (25%), 5.0 docs/s, ETA 00:00:30, tokens attended 800 / input 1000 (80%)", progress.Describe());
        Assert.Null(new ReclassifyProgress(0, 10, 0, 0, 0, TimeSpan.Zero).Remaining);
    }

    [Fact]
    public void Periodic_log_lines_are_throttled_by_the_interval()
    {
        var clock = new FakeTimeProvider();
        var logger = new CountingLogger();
        var sink = ReclassifyProgressDisplay.Periodic(logger, TimeSpan.FromSeconds(10), clock);
        var line = new ReclassifyProgress(1, 10, 1, 10, 10, TimeSpan.FromSeconds(1));
        sink(line);
        sink(line);
        clock.Advance(TimeSpan.FromSeconds(10));
        sink(line);
        Assert.Equal(2, logger.Count);
    }

    private sealed class CountingLogger : Microsoft.Extensions.Logging.ILogger
    {
        public int Count { get; private set; }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) => Count++;
    }
}
