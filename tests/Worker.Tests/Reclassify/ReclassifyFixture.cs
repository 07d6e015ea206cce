using System.Text.Json;
using Triage.Storage;
using Triage.Worker.Reclassify;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Reclassify;

/// <summary>Seeds a real SQLite results database with documents and rows of older model versions.</summary>
internal static class ReclassifyData
{
    public const string OldVersion = "old-v0";
    public const string NewerOldVersion = "old-v1";

    public static readonly DateTimeOffset OldTime = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    public static readonly DateTimeOffset NewerTime = new(2025, 2, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly string[] Words = "shares rose as the striker scored while ministers debated new phones and film awards markets goal chip".Split(' ');

    public static string DocumentId(int i) => $"doc-{i:D3}";

    public static string Text(int i)
    {
        var random = new Random(i);
        return string.Join(' ', Enumerable.Range(0, random.Next(8, 120)).Select(_ => Words[random.Next(Words.Length)]));
    }

    /// <summary><paramref name="count"/> documents; every one but the last <paramref name="withoutOld"/> has an
    /// <see cref="OldVersion"/> row whose label cycles through the test labels.</summary>
    public static async Task SeedAsync(string dataDir, int count, int withoutOld = 0, Func<int, bool>? newerOld = null)
    {
        await using var repository = WorkerHost.OpenResults(dataDir);
        await repository.MigrateAsync(CancellationToken.None);
        var documents = Enumerable.Range(0, count).Select(i => new DocumentRecord(DocumentId(i), Text(i), "text/plain", OldTime)).ToList();
        var old = Enumerable.Range(0, count - withoutOld).Select(i => Row(i, OldVersion, TestModel.Labels[i % TestModel.Labels.Length], OldTime)).ToList();
        var newer = Enumerable.Range(0, count - withoutOld).Where(i => newerOld?.Invoke(i) == true)
            .Select(i => Row(i, NewerOldVersion, TestModel.Labels[(i + 1) % TestModel.Labels.Length], NewerTime)).ToList();
        await repository.WriteBatchAsync(documents, [.. old, .. newer], CancellationToken.None);
    }

    public static ClassificationResult Row(int i, string version, string label, DateTimeOffset at) => new(
        DocumentId(i), version, label, 0.9, TestModel.Labels.ToDictionary(l => l, l => l == label ? 0.9 : 0.05), "dense", 10, 10, at, $"m-{i}", 1);

    /// <summary>Every row of the database, as comparable text (records with dictionaries do not compare by value).</summary>
    public static async Task<Dictionary<(string Document, string Version), string>> AllRowsAsync(string dataDir, int count)
    {
        await using var repository = WorkerHost.OpenResults(dataDir);
        var rows = await repository.GetResultsForDocumentsAsync(Enumerable.Range(0, count).Select(DocumentId).ToList(), CancellationToken.None);
        return rows.ToDictionary(r => (r.DocumentId, r.ModelVersion), r => JsonSerializer.Serialize(r with { Probabilities = new SortedDictionary<string, double>(r.Probabilities.ToDictionary()) }));
    }

    public static async Task<IReadOnlyDictionary<string, long>> CountsAsync(string dataDir)
    {
        await using var repository = WorkerHost.OpenResults(dataDir);
        return await repository.CountResultsByModelVersionAsync(CancellationToken.None);
    }

    public static async Task<ReclassifyRun> RunCliAsync(string dataDir, params string[] args)
    {
        var result = await CliHarness.RunAsync(
            ["reclassify", "--data-dir", dataDir, "--model", TestModel.SharedPath, "--json",
             "--set", "Model:Threads=1", "--set", "Logging:LogLevel:Default=Warning", .. args]);
        ReclassifyReport? report = null;
        if (result.ExitCode is 0 or 130)
        {
            report = JsonSerializer.Deserialize<ReclassifyReport>(result.Output, new JsonSerializerOptions(JsonSerializerDefaults.Web));
        }

        return new ReclassifyRun(result, report);
    }
}

internal sealed record ReclassifyRun(CliResult Cli, ReclassifyReport? Report)
{
    public ReclassifyReport Ok()
    {
        Assert.True(Cli.ExitCode == 0 && Report is not null, Cli.ToString());
        return Report!;
    }
}
