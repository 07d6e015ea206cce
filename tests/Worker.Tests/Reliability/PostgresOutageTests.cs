using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Triage.Storage;
using Triage.Worker.Metrics;
using Triage.Worker.Queues.Embedded;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;
using Triage.Tests.Shared;
using Xunit.Abstractions;

namespace Triage.Worker.Tests.Reliability;

/// <summary>
/// PostgreSQL goes away for 30 s under a running worker (fast shutdown: every connection dropped) and comes back on
/// the same data directory: the worker abandons what it cannot store, keeps trying, reconnects, and finishes with one
/// row per document; at no point is a message completed whose row is not committed.
/// </summary>
[Collection(ReliabilityCollection.Name)]
public sealed class PostgresOutageTests(ITestOutputHelper output)
{
    private const int Documents = 300;
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_30_second_PostgreSQL_outage_mid_run_loses_nothing_and_completes_nothing_without_a_row()
    {
        await using var server = await PostgresServer.StartNewAsync();
        var connectionString = await server.CreateDatabaseAsync();
        using var data = new TempDirectory();
        await WorkerHost.SendAsync(data.Path, TestDocuments.Generate(Documents, seed: 31));

        var settings = WorkerHost.Settings(
            ("Storage:Provider", "postgres"),
            ("Storage:ConnectionString", connectionString),
            ("Batching:MaxBatchDocuments", "8"),
            // The shipped defaults rather than the test host's fast ones: the pause after a failed batch is what
            // keeps an outage from using up every message's delivery count.
            ("Worker:StoreFailurePause", "00:00:05"),
            ("Worker:StoreRetryDelay", "00:00:00.200"),
            ("Logging:LogLevel:Default", "Critical"));
        using var summary = new StringWriter();
        var host = WorkerHost.Build(data.Path, settings, summary, drain: true);

        // The worker's own account of failed store attempts, from the Triage meter.
        var failures = new ConcurrentFailures();
        using var listener = new MeterListener();
        var meter = host.Services.GetRequiredService<TriageMetrics>().Meter;
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, meter) && instrument.Name == "triage.documents.failed")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "error.type" && tag.Value is string type && type.StartsWith("store.", StringComparison.Ordinal))
                {
                    failures.Add(value);
                }
            }
        });
        listener.Start();

        // A separate, unpooled reader: the worker's pool must recover on its own.
        var reader = ResultsRepositoryFactory.Create(new StorageOptions
        {
            Provider = StorageOptions.PostgresProvider,
            ConnectionString = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString,
            MigrateOnStart = false,
        });
        await using var results = reader;
        await results.MigrateAsync(CancellationToken.None); // the worker's own migration at start is then a no-op

        // Completed is read before rows: completion follows the commit, so completed ≤ rows whenever the rule holds.
        async Task<(long Completed, long Rows, long DeadLettered)> SnapshotAsync()
        {
            var counts = await WorkerHost.CountsAsync(data.Path);
            var rows = (await results.CountResultsByModelVersionAsync(CancellationToken.None)).GetValueOrDefault(TestModel.Version);
            Assert.True(counts.Completed <= rows, $"{counts.Completed} messages completed but only {rows} rows committed");
            return (counts.Completed, rows, counts.DeadLettered);
        }

        var run = host.RunAsync();
        var before = await Eventually.ReturnsAsync(SnapshotAsync, s => s.Rows >= 30 || run.IsCompleted, TimeSpan.FromMinutes(2), "some rows in PostgreSQL");
        Assert.False(run.IsCompleted, "the worker finished before the outage; nothing was tested");
        Assert.True(before.Rows < Documents, "every row was written before the outage; nothing was tested");

        await server.StopAsync();
        var down = Stopwatch.StartNew();
        failures.Restart();
        try
        {
            // Down for the outage, and the worker still trying (and failing) near its end, not given up or crashed.
            var during = await Eventually.ReturnsAsync(
                async () => (Elapsed: down.Elapsed, Failures: failures.Snapshot(), Counts: await WorkerHost.CountsAsync(data.Path)),
                s => (s.Elapsed >= Outage && s.Failures.LastAt >= Outage - TimeSpan.FromSeconds(10)) || run.IsCompleted,
                Outage + TimeSpan.FromMinutes(1),
                "store failures throughout the outage");
            Assert.False(run.IsCompleted, "the worker stopped during the outage\n" + summary);
            Assert.Equal(0, during.Counts.DeadLettered);
            output.WriteLine($"outage: {during.Elapsed.TotalSeconds:0} s, {during.Failures.Documents} failed document attempts (last at {during.Failures.LastAt.TotalSeconds:0} s), {during.Counts.Completed} completed");
        }
        finally
        {
            await server.StartAsync();
        }

        await SnapshotAsync(); // every completion during the outage already had its row
        await run.WaitAsync(TimeSpan.FromMinutes(2));

        var final = await SnapshotAsync();
        var queue = await WorkerHost.CountsAsync(data.Path);
        Assert.Equal((0L, 0L, (long)Documents, 0L), (queue.Queued, queue.Locked, queue.Completed, queue.DeadLettered));
        Assert.Equal(Documents, final.Rows);
        Assert.Equal(Documents, await results.CountDocumentsAsync(CancellationToken.None));
        Assert.True(failures.Snapshot().Documents > 0);
        Assert.Contains($"Processed {Documents} documents", summary.ToString(), StringComparison.Ordinal);
        await using (var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString))
        {
            await connection.OpenAsync();
            await using var attempts = new NpgsqlCommand("SELECT MAX(attempt) FROM classification_results", connection);
            output.WriteLine($"highest delivery count of a stored row: {await attempts.ExecuteScalarAsync()} (dead-lettered at {EmbeddedQueueOptions.DefaultMaxDeliveryCount})");
        }

        output.WriteLine(summary.ToString());
    }

    /// <summary>Failed store attempts seen on the meter, and when the last one was (since it was created).</summary>
    private sealed class ConcurrentFailures
    {
        private readonly Lock _gate = new();
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _documents;
        private TimeSpan _lastAt = TimeSpan.MinValue;
        private TimeSpan _offset;

        public void Add(long documents)
        {
            lock (_gate)
            {
                _documents += documents;
                _lastAt = _clock.Elapsed;
            }
        }

        /// <summary>Makes <see cref="Snapshot"/>'s times relative to now (the start of the outage).</summary>
        public void Restart()
        {
            lock (_gate)
            {
                _offset = _clock.Elapsed;
            }
        }

        public (long Documents, TimeSpan LastAt) Snapshot()
        {
            lock (_gate)
            {
                return (_documents, _lastAt == TimeSpan.MinValue ? TimeSpan.MinValue : _lastAt - _offset);
            }
        }
    }
}
