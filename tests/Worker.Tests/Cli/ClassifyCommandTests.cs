using System.Text.Json;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Cli;

public sealed class ClassifyCommandTests
{
    [Fact]
    public async Task Classify_prints_one_row_per_file_with_a_known_label()
    {
        var samples = Path.Combine(SharedAssets.RepositoryRoot, "samples");
        using var data = new TempDirectory();
        var result = await CliHarness.RunAsync("classify", samples, "--model", TestModel.SharedPath, "--data-dir", data.Path);

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var files = Directory.GetFiles(samples);
        Assert.Equal(files.Length + 1, lines.Length); // header + one per document
        Assert.StartsWith("DOCUMENT", lines[0], StringComparison.Ordinal);
        foreach (var file in files)
        {
            var row = Assert.Single(lines, l => l.StartsWith(Path.GetFileNameWithoutExtension(file) + " ", StringComparison.Ordinal));
            Assert.Contains(TestModel.Labels, label => row.Contains($" {label} ", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Classify_json_has_probabilities_that_sum_to_one_and_reports_empty_files()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("a.txt"), "Shares rose sharply after the results.");
        File.WriteAllText(dir.File("long.txt"), string.Join(' ', Enumerable.Repeat("the striker scored again in the second half", 200)));
        File.WriteAllText(dir.File("blank.txt"), "\u200B\u0085");

        var result = await CliHarness.RunAsync("classify", dir.File("a.txt"), dir.File("long.txt"), dir.File("blank.txt"), "--model", TestModel.SharedPath, "--json", "--data-dir", dir.File("data"));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("blank.txt", result.Error, StringComparison.Ordinal);
        var rows = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["a", "long"], rows.Select(r => r.GetProperty("id").GetString()));
        foreach (var row in rows)
        {
            var sum = row.GetProperty("probabilities").EnumerateObject().Sum(p => p.Value.GetDouble());
            Assert.InRange(sum, 0.999, 1.001);
            Assert.Equal(TestModel.Version, row.GetProperty("modelVersion").GetString());
        }

        Assert.Equal(512, rows[1].GetProperty("inputTokens").GetInt32()); // head policy truncates to the window
    }

    [Fact]
    public async Task Missing_model_directory_is_one_clear_error()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("a.txt"), "text");
        var result = await CliHarness.RunAsync("classify", dir.File("a.txt"), "--model", dir.File("nope"), "--data-dir", dir.Path);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Model directory not found", result.Error, StringComparison.Ordinal);
    }
}
