using Triage.Worker.Reclassify;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Reclassify;

/// <summary><c>triage reclassify</c> end to end through the real command line, real SQLite and the tiny parity-a model.</summary>
public sealed class ReclassifyCommandTests
{
    [Fact]
    public async Task From_the_database_it_writes_the_new_version_only_and_leaves_old_rows_untouched()
    {
        using var data = new TempDirectory();
        const int count = 30;
        await ReclassifyData.SeedAsync(data.Path, count, withoutOld: 4);
        var before = await ReclassifyData.AllRowsAsync(data.Path, count);

        var report = (await ReclassifyData.RunCliAsync(data.Path, "--from-db", "--set", "Batching:MaxBatchDocuments=4")).Ok();

        var after = await ReclassifyData.AllRowsAsync(data.Path, count);
        Assert.Equal(new Dictionary<string, long> { [ReclassifyData.OldVersion] = count - 4, [TestModel.Version] = count }, await ReclassifyData.CountsAsync(data.Path));
        foreach (var (key, row) in before)
        {
            Assert.Equal(row, after[key]); // byte-for-byte the same old rows
        }

        Assert.Equal(TestModel.Version, report.ModelVersion);
        Assert.False(report.DryRun);
        Assert.False(report.Interrupted);
        Assert.Equal(count, report.Total);
        Assert.Equal(count, report.Processed);
        Assert.Equal(count, report.Written);
        Assert.True(report.Batches >= count / 4, $"{report.Batches} batches for {count} documents at 4 per batch");
        Assert.True(report.TokensInput > 0 && report.TokensAttended > 0 && report.TokensAttended <= report.TokensInput);

        // The report agrees with what the database now holds.
        await using var repository = WorkerHost.OpenResults(data.Path);
        var rows = await repository.GetResultsForDocumentsAsync(Enumerable.Range(0, count).Select(ReclassifyData.DocumentId).ToList(), CancellationToken.None);
        var fresh = rows.Where(r => r.ModelVersion == TestModel.Version).ToDictionary(r => r.DocumentId);
        var old = rows.Where(r => r.ModelVersion == ReclassifyData.OldVersion).ToDictionary(r => r.DocumentId);
        Assert.Equal(fresh.Values.Count(r => r.Confidence < 0.5), report.LowConfidence);
        Assert.Equal(old.Count(o => o.Value.Label != fresh[o.Key].Label), report.Changed);
        Assert.Equal(4, report.WithoutPrevious);
        Assert.Equal(new Dictionary<string, long> { [ReclassifyData.OldVersion] = count - 4 }, report.ComparedVersions);
        foreach (var (oldLabel, row) in report.Confusion)
        {
            foreach (var (newLabel, n) in row)
            {
                var expected = oldLabel == ReclassifyReport.NoPrevious
                    ? fresh.Values.Count(f => !old.ContainsKey(f.DocumentId) && f.Label == newLabel)
                    : old.Count(o => o.Value.Label == oldLabel && fresh[o.Key].Label == newLabel);
                Assert.Equal(expected, n);
            }
        }

        Assert.Equal(count, report.Confusion.Values.Sum(r => r.Values.Sum()));
        Assert.All(fresh.Values, r => Assert.True(r.MessageId is null && r.Method == "dense" && r.TokensInput > 0));

        // Run again: nothing left to do, nothing rewritten.
        var again = (await ReclassifyData.RunCliAsync(data.Path)).Ok();
        Assert.Equal((0L, 0L, 0L), (again.Total, again.Processed, again.Written));
        Assert.Equal(after, await ReclassifyData.AllRowsAsync(data.Path, count));
    }

    [Fact]
    public async Task Dry_run_writes_nothing_and_compares_with_the_most_recent_or_the_named_version()
    {
        using var data = new TempDirectory();
        const int count = 12;
        await ReclassifyData.SeedAsync(data.Path, count, newerOld: i => i % 2 == 0);
        var before = await ReclassifyData.AllRowsAsync(data.Path, count);

        var latest = (await ReclassifyData.RunCliAsync(data.Path, "--dry-run")).Ok();
        Assert.True(latest.DryRun);
        Assert.Equal((12L, 0L), (latest.Processed, latest.Written));
        Assert.Equal(new Dictionary<string, long> { [ReclassifyData.OldVersion] = 6, [ReclassifyData.NewerOldVersion] = 6 }, latest.ComparedVersions);

        var named = (await ReclassifyData.RunCliAsync(data.Path, "--dry-run", "--compare-to", ReclassifyData.OldVersion, "--low-confidence", "1")).Ok();
        Assert.Equal(new Dictionary<string, long> { [ReclassifyData.OldVersion] = 12 }, named.ComparedVersions);
        Assert.Equal(ReclassifyData.OldVersion, named.CompareTo);
        Assert.Equal(12, named.LowConfidence); // every confidence is below 1

        Assert.Equal(before, await ReclassifyData.AllRowsAsync(data.Path, count));
        Assert.False((await ReclassifyData.CountsAsync(data.Path)).ContainsKey(TestModel.Version));
    }

    [Fact]
    public async Task Limit_is_respected_and_the_next_run_takes_the_next_documents()
    {
        using var data = new TempDirectory();
        await ReclassifyData.SeedAsync(data.Path, 20);

        var first = (await ReclassifyData.RunCliAsync(data.Path, "--limit", "7", "--page-size", "3")).Ok();
        var second = (await ReclassifyData.RunCliAsync(data.Path, "--limit", "7")).Ok();

        Assert.Equal((7L, 7L, 7L), (first.Total, first.Processed, first.Written));
        Assert.Equal((7L, 7L), (second.Processed, second.Written));
        var rows = await ReclassifyData.AllRowsAsync(data.Path, 20);
        var done = rows.Keys.Where(k => k.Version == TestModel.Version).Select(k => k.Document).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(Enumerable.Range(0, 14).Select(ReclassifyData.DocumentId), done); // keyset order: the first 14 ids
    }

    [Fact]
    public async Task Jsonl_and_directory_inputs_skip_what_is_done_bad_lines_and_repeated_ids()
    {
        using var data = new TempDirectory();
        var lines = Enumerable.Range(0, 6).Select(i => $"{{\"id\":\"{ReclassifyData.DocumentId(i)}\",\"text\":\"{ReclassifyData.Text(i)}\"}}").ToList();
        lines.Insert(2, "{ not json");
        lines.Add($"{{\"document_id\":\"{ReclassifyData.DocumentId(0)}\",\"content\":\"repeated\"}}");
        lines.Add("");
        await File.WriteAllLinesAsync(data.File("export.jsonl"), lines);

        var first = (await ReclassifyData.RunCliAsync(data.Path, "--input", data.File("export.jsonl"))).Ok();
        Assert.Equal((6L, 6L, 1L, 1L), (first.Processed, first.Written, first.Skipped, first.AlreadyDone));
        Assert.Equal(6, first.WithoutPrevious);

        var second = (await ReclassifyData.RunCliAsync(data.Path, "--input", data.File("export.jsonl"))).Ok();
        Assert.Equal((0L, 7L), (second.Processed, second.AlreadyDone));

        var dir = Directory.CreateDirectory(data.File("texts")).FullName;
        for (var i = 5; i < 9; i++)
        {
            await File.WriteAllTextAsync(Path.Combine(dir, ReclassifyData.DocumentId(i) + ".txt"), ReclassifyData.Text(i));
        }

        var fromDir = (await ReclassifyData.RunCliAsync(data.Path, "--input", dir)).Ok();
        Assert.Equal((3L, 1L), (fromDir.Processed, fromDir.AlreadyDone)); // doc-005 came with the JSONL file
        Assert.Equal(9, (await ReclassifyData.CountsAsync(data.Path))[TestModel.Version]);
    }

    [Fact]
    public async Task Bad_arguments_fail_with_a_message()
    {
        using var data = new TempDirectory();
        var both = await ReclassifyData.RunCliAsync(data.Path, "--from-db", "--input", data.Path);
        Assert.NotEqual(0, both.Cli.ExitCode);
        Assert.Contains("--from-db and --input", both.Cli.Error + both.Cli.Output, StringComparison.Ordinal);

        var missing = await ReclassifyData.RunCliAsync(data.Path, "--input", data.File("nope.jsonl"));
        Assert.Equal(1, missing.Cli.ExitCode);
        Assert.Contains("nope.jsonl", missing.Cli.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_text_report_has_the_summary_and_the_confusion_table()
    {
        using var data = new TempDirectory();
        await ReclassifyData.SeedAsync(data.Path, 6, withoutOld: 1);
        var result = await CliHarness.RunAsync("reclassify", "--data-dir", data.Path, "--model", TestModel.SharedPath, "--set", "Logging:LogLevel:Default=Warning");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"Reclassified with {TestModel.Version} (dense)", result.Output, StringComparison.Ordinal);
        Assert.Contains("documents processed", result.Output, StringComparison.Ordinal);
        Assert.Contains("old \\ new", result.Output, StringComparison.Ordinal);
        Assert.Contains(ReclassifyReport.NoPrevious, result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[", result.Output, StringComparison.Ordinal); // no ANSI codes into a file
    }
}
