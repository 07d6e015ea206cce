using System.Text.Json;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Cli;

public sealed class TrainCommandTests
{
    [Fact]
    public async Task Train_without_base_starts_from_the_shipped_pre_trained_base()
    {
        using var dir = new TempDirectory();
        // Eight labelled lines (two labels, train and validation): enough for one short epoch of the real 4-layer base.
        var lines = Enumerable.Range(0, 8).Select(i => JsonSerializer.Serialize(new
        {
            id = $"d{i}",
            split = i < 6 ? "train" : "validation",
            label = i % 2 == 0 ? "sport" : "business",
            text = i % 2 == 0 ? "The striker scored twice as the club won the cup final." : "Shares fell after the bank cut its profit forecast.",
        }));
        File.WriteAllLines(dir.File("data.jsonl"), lines);

        var result = await CliHarness.RunAsync("train", "--data", dir.File("data.jsonl"), "--output", dir.File("model"),
            "--epochs", "1", "--max-tokens", "64", "--threads", "1", "--data-dir", dir.File("data"));

        Assert.True(result.ExitCode == 0, result.ToString());
        using var manifest = JsonDocument.Parse(File.ReadAllText(dir.File("model/triage.json")));
        var baseCheckpoint = manifest.RootElement.GetProperty("baseCheckpoint").GetString();
        Assert.Equal(Path.Combine(SharedAssets.RepositoryRoot, "models", "base"), baseCheckpoint);
    }
}
