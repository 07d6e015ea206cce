using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Triage.Storage;
using Triage.Worker.Queues;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Pipeline;

/// <summary>The real parts end to end: embedded SQLite queue, SQLite results database, the parity-a model.</summary>
public sealed class EndToEndTests
{
    private static string Samples => Path.Combine(SharedAssets.RepositoryRoot, "samples");

    [Fact]
    public async Task Enqueue_then_run_drain_stores_one_row_per_document_and_completes_every_message()
    {
        using var data = new TempDirectory();
        var enqueue = await CliHarness.RunAsync("enqueue", Samples, "--data-dir", data.Path);
        Assert.True(enqueue.ExitCode == 0, enqueue.ToString());

        var run = await CliHarness.RunAsync("run", "--drain", "--data-dir", data.Path, "--set", "Model:Path=" + TestModel.SharedPath, "--set", "Logging:LogLevel:Default=Warning");
        Assert.True(run.ExitCode == 0, run.ToString());
        var files = Directory.GetFiles(Samples);
        Assert.Contains($"Processed {files.Length} documents", run.Output, StringComparison.Ordinal);
        Assert.Contains("Tokens:", run.Output, StringComparison.Ordinal);

        var counts = await WorkerHost.CountsAsync(data.Path);
        Assert.Equal((0, 0, files.Length, 0), (counts.Queued, counts.Locked, counts.Completed, counts.DeadLettered));
        await using var results = WorkerHost.OpenResults(data.Path);
        Assert.Equal(files.Length, (await results.CountResultsByModelVersionAsync(CancellationToken.None))[TestModel.Version]);
        Assert.Equal(files.Length, await results.CountDocumentsAsync(CancellationToken.None));
        foreach (var file in files)
        {
            var row = await results.GetResultAsync(Path.GetFileNameWithoutExtension(file), TestModel.Version, CancellationToken.None);
            Assert.NotNull(row);
            Assert.Contains(row.Label, TestModel.Labels);
            Assert.Equal(Path.GetFileNameWithoutExtension(file), row.MessageId);
            Assert.Equal(1, row.Attempt);
            Assert.Equal("dense", row.Method);
            Assert.True(row.TokensInput > 2 && row.TokensAttended > 0);
            Assert.InRange(row.Probabilities.Values.Sum(), 0.999, 1.001);
        }

        var status = await CliHarness.RunAsync("status", "--json", "--data-dir", data.Path);
        Assert.Contains($"\"{TestModel.Version}\": {files.Length}", status.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_inputs_are_dead_lettered_with_their_reasons_while_good_ones_are_processed()
    {
        using var data = new TempDirectory();
        var inputs = Path.Combine(data.Path, "inputs");
        Directory.CreateDirectory(inputs);
        var expected = new Dictionary<string, string>
        {
            ["empty"] = "EmptyBody",
            ["binary"] = "BinaryBody",
            ["invalid-utf8"] = "InvalidUtf8",
            ["malformed"] = "MalformedJson",
            ["missing-id"] = "MissingId",
            ["unknown-type"] = "UnknownContentType",
            ["oversized"] = "MessageTooLarge",
            ["control-only"] = "EmptyDocument",
        };
        File.WriteAllBytes(Path.Combine(inputs, "empty.txt"), []);
        File.WriteAllBytes(Path.Combine(inputs, "binary.bin"), [0x89, 0x50, 0x4E, 0x47, 0x00, 0x01, 0x02, 0xFF]);
        File.WriteAllBytes(Path.Combine(inputs, "invalid-utf8.txt"), [.. "caf"u8, 0xC3, 0x28, .. " au lait"u8]);
        File.WriteAllText(Path.Combine(inputs, "malformed.json"), "{\"id\": \"m\", \"text\": ");
        File.WriteAllText(Path.Combine(inputs, "missing-id.json"), "{\"text\": \"Shares rose.\"}");
        File.WriteAllText(Path.Combine(inputs, "unknown-type.json"), "{\"id\": \"u\", \"text\": \"Shares rose.\", \"contentType\": \"application/pdf\"}");
        File.WriteAllText(Path.Combine(inputs, "oversized.txt"), string.Concat(Enumerable.Repeat("market ", 300 * 1024 / 7)));
        File.WriteAllText(Path.Combine(inputs, "control-only.json"), "{\"id\": \"c\", \"text\": \"\\u200B\\u0085\\u200B\\u0086\"}");
        File.WriteAllText(Path.Combine(inputs, "good-plain.txt"), "The striker scored twice as the home side won the cup final.");
        File.WriteAllText(Path.Combine(inputs, "good-envelope.json"), "{\"id\": \"good-envelope\", \"text\": \"New phones go on sale next month.\"}");

        Assert.Equal(0, (await CliHarness.RunAsync("enqueue", inputs, "--raw", "--data-dir", data.Path)).ExitCode);
        var run = await CliHarness.RunAsync("run", "--drain", "--data-dir", data.Path, "--set", "Model:Path=" + TestModel.SharedPath, "--set", "Logging:LogLevel:Default=Error");
        Assert.True(run.ExitCode == 0, run.ToString());

        var letters = (await WorkerHost.DeadLettersAsync(data.Path)).ToDictionary(l => l.MessageId, l => l);
        Assert.Equal(expected.Keys.Order(), letters.Keys.Order());
        foreach (var (id, reason) in expected)
        {
            Assert.True(letters[id].Reason == reason, $"{id}: expected {reason}, got {letters[id].Reason} ({letters[id].Description})");
            Assert.False(string.IsNullOrWhiteSpace(letters[id].Description));
        }

        await using var results = WorkerHost.OpenResults(data.Path);
        Assert.NotNull(await results.GetResultAsync("good-plain", TestModel.Version, CancellationToken.None));
        Assert.NotNull(await results.GetResultAsync("good-envelope", TestModel.Version, CancellationToken.None));
        Assert.Equal(2, (await results.CountResultsByModelVersionAsync(CancellationToken.None))[TestModel.Version]);

        var listing = await CliHarness.RunAsync("dead-letters", "--data-dir", data.Path);
        Assert.Contains("MessageTooLarge", listing.Output, StringComparison.Ordinal);
        var requeue = await CliHarness.RunAsync("dead-letters", "--requeue", "--data-dir", data.Path);
        Assert.Contains($"Requeued {expected.Count}", requeue.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_database_failure_completes_nothing_and_the_redelivery_stores_exactly_one_row()
    {
        using var data = new TempDirectory();
        Assert.Equal(0, (await CliHarness.RunAsync("enqueue", Samples, "--data-dir", data.Path)).ExitCode);
        Assert.Equal(0, (await CliHarness.RunAsync("migrate", "--data-dir", data.Path)).ExitCode);
        var total = Directory.GetFiles(Samples).Length;

        // The first writes go to the same database opened read-only: a real SQLite error (SQLITE_READONLY).
        var real = WorkerHost.OpenResults(data.Path);
        var readOnly = ResultsRepositoryFactory.Create(new StorageOptions
        {
            ConnectionString = $"Data Source={Path.Combine(data.Path, "triage.db")};Mode=ReadOnly",
            MigrateOnStart = false,
        });
        var flaky = new FailFirstWrites(real, readOnly, failures: 2, () => WorkerHost.CountsAsync(data.Path));
        using var output = new StringWriter();
        var host = WorkerHost.Build(data.Path, WorkerHost.Settings(("Batching:MaxBatchDocuments", "4")), output, drain: true,
            services => services.AddSingleton<IResultsRepository>(flaky));
        await host.RunAsync().WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Equal(2, flaky.Failures.Count);
        Assert.All(flaky.Failures, f => Assert.IsType<SqliteException>(f.Error));
        Assert.All(flaky.Failures, f => Assert.Equal(0, f.CompletedAtFailure)); // nothing completed while no row was committed
        var counts = await WorkerHost.CountsAsync(data.Path);
        Assert.Equal((0L, (long)total, 0L), (counts.Queued, counts.Completed, counts.DeadLettered));
        await using var results = WorkerHost.OpenResults(data.Path);
        Assert.Equal(total, (await results.CountResultsByModelVersionAsync(CancellationToken.None))[TestModel.Version]);
        var attempts = new List<int>();
        foreach (var file in Directory.GetFiles(Samples))
        {
            attempts.Add((await results.GetResultAsync(Path.GetFileNameWithoutExtension(file), TestModel.Version, CancellationToken.None))!.Attempt);
        }

        Assert.Contains(attempts, a => a > 1); // the failed batches were redelivered
        Assert.Contains("failed attempts (abandoned for redelivery): ", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Redelivering_an_already_stored_document_still_leaves_one_row()
    {
        using var data = new TempDirectory();
        var envelope = Encoding.UTF8.GetBytes("{\"id\": \"doc-1\", \"text\": \"The central bank held interest rates.\"}");
        await WorkerHost.SendAsync(data.Path, new OutgoingMessage("m-1", envelope) { ContentType = "application/json" });
        using (var output = new StringWriter())
        {
            await WorkerHost.Build(data.Path, WorkerHost.Settings(), output).RunAsync().WaitAsync(TimeSpan.FromMinutes(1));
        }

        // The same document again under new message ids (a producer retry, a replay), one of them twice in a batch.
        await WorkerHost.SendAsync(data.Path,
            new OutgoingMessage("m-2", envelope) { ContentType = "application/json" },
            new OutgoingMessage("m-3", envelope) { ContentType = "application/json" });
        using (var output = new StringWriter())
        {
            await WorkerHost.Build(data.Path, WorkerHost.Settings(), output).RunAsync().WaitAsync(TimeSpan.FromMinutes(1));
        }

        await using var results = WorkerHost.OpenResults(data.Path);
        Assert.Equal(1, (await results.CountResultsByModelVersionAsync(CancellationToken.None))[TestModel.Version]);
        Assert.Equal(1, await results.CountDocumentsAsync(CancellationToken.None));
        var row = await results.GetResultAsync("doc-1", TestModel.Version, CancellationToken.None);
        Assert.Contains(row!.MessageId, new[] { "m-2", "m-3" });
        Assert.Equal(3, (await WorkerHost.CountsAsync(data.Path)).Completed);
    }

    [Fact]
    public async Task A_bad_setting_stops_start_up_with_the_option_named()
    {
        using var data = new TempDirectory();
        var run = await CliHarness.RunAsync("run", "--drain", "--data-dir", data.Path, "--set", "Batching:MaxBatchTokens=0", "--set", "Model:Path=" + TestModel.SharedPath);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("MaxBatchTokens", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_model_fails_the_run_with_exit_code_1_and_settles_nothing()
    {
        using var data = new TempDirectory();
        Assert.Equal(0, (await CliHarness.RunAsync("enqueue", Samples, "--data-dir", data.Path)).ExitCode);
        var run = await CliHarness.RunAsync("run", "--drain", "--data-dir", data.Path, "--set", "Model:Path=" + data.File("no-model"), "--set", "Logging:LogLevel:Default=None");
        Assert.Equal(1, run.ExitCode);
        Assert.Equal(Directory.GetFiles(Samples).Length, (await WorkerHost.CountsAsync(data.Path)).Queued);
    }

    /// <summary>Sends the first writes to a failing repository, then to the real one; records queue state at each failure.</summary>
    private sealed class FailFirstWrites(IResultsRepository real, IResultsRepository failing, int failures, Func<Task<QueueCounts>> counts) : DelegatingResultsRepository(real)
    {
        private int _remaining = failures;

        public List<(Exception Error, long CompletedAtFailure)> Failures { get; } = [];

        public override async Task WriteBatchAsync(IReadOnlyList<DocumentRecord> documents, IReadOnlyList<ClassificationResult> results, CancellationToken cancellationToken)
        {
            if (Interlocked.Decrement(ref _remaining) >= 0)
            {
                try
                {
                    await failing.WriteBatchAsync(documents, results, cancellationToken);
                }
                catch (Exception exception)
                {
                    Failures.Add((exception, (await counts()).Completed));
                    throw;
                }

                throw new InvalidOperationException("The read-only database accepted a write.");
            }

            await Inner.WriteBatchAsync(documents, results, cancellationToken);
        }

        public override async ValueTask DisposeAsync()
        {
            await Inner.DisposeAsync();
            await failing.DisposeAsync();
        }
    }
}
