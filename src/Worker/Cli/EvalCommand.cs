using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Triage.Classifier.Evaluation;
using Triage.Classifier.Models;
using Triage.Classifier.Runtime;
using Triage.Classifier.Training;

namespace Triage.Worker.Cli;

/// <summary><c>triage eval</c>: quality (accuracy, F1, ECE, confusion) and cost (docs/s, tokens/s, peak memory) of a model.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "Triage model directory.", Required = true };
        var data = new Option<FileInfo>("--data") { Description = "Labelled JSONL or CSV.", Required = true };
        var split = new Option<string>("--split") { Description = "Split to evaluate (default test).", DefaultValueFactory = _ => "test" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of tables." };
        var maxBatchTokens = new Option<int>("--max-batch-tokens") { DefaultValueFactory = _ => 16384 };
        var device = new Option<string>("--device") { DefaultValueFactory = _ => "auto" };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 0 };
        var limit = new Option<int?>("--limit") { Description = "Evaluate N documents evenly spaced through the split (every label covered even in a file sorted by label)." };
        var reliability = new Option<FileInfo?>("--reliability-svg") { Description = "Also write a reliability diagram (SVG) to this file." };
        var command = new Command("eval", "Measure a model on a labelled split.") { model, data, split, json, maxBatchTokens, device, threads, limit, reliability };
        command.SetAction((parse, cancellationToken) =>
        {
            var threadCount = TorchRuntime.ConfigureThreads(parse.GetValue(threads));
            using var loaded = TriageModel.Load(parse.GetValue(model)!.FullName, TorchRuntime.ResolveDevice(parse.GetValue(device)!));
            var documents = LabelledDataset.Load(parse.GetValue(data)!.FullName).Split(parse.GetValue(split)!);
            documents = LabelledDataset.EvenlySpaced(documents, parse.GetValue(limit));

            var result = ModelEvaluator.Evaluate(loaded, documents, parse.GetValue(maxBatchTokens), threadCount, cancellationToken);
            if (parse.GetValue(reliability) is { } svg)
            {
                svg.Directory?.Create();
                File.WriteAllText(svg.FullName, ReliabilityDiagram.Svg(result.Report.ReliabilityBins, $"{loaded.Manifest.ModelVersion} on {result.Report.Documents} documents", result.Report.Ece));
                Console.Error.WriteLine($"wrote {svg.FullName}");
            }

            if (parse.GetValue(json))
            {
                Console.WriteLine(ToJson(loaded, result));
            }
            else
            {
                PrintTables(loaded, result);
            }

            return Task.FromResult(0);
        });
        return command;
    }

    internal static string ToJson(TriageModel model, EvaluationResult result)
    {
        var r = result.Report;
        return JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["model_version"] = model.Manifest.ModelVersion,
            ["method"] = model.Manifest.Method.Name,
            ["documents"] = r.Documents,
            ["accuracy"] = r.Accuracy,
            ["macro_f1"] = r.MacroF1,
            ["micro_f1"] = r.MicroF1,
            ["ece"] = r.Ece,
            ["reliability"] = r.ReliabilityBins.Select(b => new { lower = b.Lower, upper = b.Upper, confidence = b.Confidence, accuracy = b.Accuracy, count = b.Count }),
            ["temperature"] = model.Manifest.Temperature,
            ["per_class"] = r.PerClass.ToDictionary(c => c.Label, c => new { precision = c.Precision, recall = c.Recall, f1 = c.F1, support = c.Support }),
            ["confusion_matrix"] = r.ConfusionMatrix,
            ["labels"] = r.Labels,
            ["docs_per_second"] = result.DocsPerSecond,
            ["tokens_per_second"] = result.TokensPerSecond,
            ["peak_memory_bytes"] = result.PeakMemoryBytes,
            ["mean_input_tokens"] = result.MeanInputTokens,
            ["mean_tokens_attended"] = result.MeanTokensAttended,
            ["tokens_attended_per_layer"] = result.MeanTokensAttendedPerLayer,
            ["threads"] = result.Threads,
            ["device"] = result.Device,
        });
    }

    private static void PrintTables(TriageModel model, EvaluationResult result)
    {
        var r = result.Report;
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"model {model.Manifest.ModelVersion} ({model.Manifest.Method.Name}) on {r.Documents} documents, device {result.Device}, {result.Threads} threads");
        Console.WriteLine(string.Create(c, $"accuracy {r.Accuracy:P2}  macro-F1 {r.MacroF1:P2}  micro-F1 {r.MicroF1:P2}  ECE {r.Ece:F4} (T = {model.Manifest.Temperature:F3})"));
        Console.WriteLine(string.Create(c, $"{result.DocsPerSecond:F2} docs/s  {result.TokensPerSecond:F0} tokens/s  peak RSS {result.PeakMemoryBytes / (1024.0 * 1024):F0} MiB  tokens in {result.MeanInputTokens:F1} / attended {result.MeanTokensAttended:F1} per doc"));
        Console.WriteLine("tokens attended per layer (mean per doc): " + string.Join("  ", result.MeanTokensAttendedPerLayer.Select((t, i) => string.Create(c, $"L{i + 1} {t:F1}"))));
        Console.WriteLine();
        Console.WriteLine($"{"class",-16} {"precision",9} {"recall",9} {"f1",9} {"support",8}");
        foreach (var s in r.PerClass)
        {
            Console.WriteLine(string.Create(c, $"{s.Label,-16} {s.Precision,9:F4} {s.Recall,9:F4} {s.F1,9:F4} {s.Support,8}"));
        }

        Console.WriteLine();
        Console.WriteLine("confusion (rows = truth, columns = predicted): " + string.Join(" ", r.Labels));
        for (var i = 0; i < r.Labels.Count; i++)
        {
            Console.WriteLine($"{r.Labels[i],-16} {string.Join(" ", r.ConfusionMatrix[i].Select(v => v.ToString(c).PadLeft(6)))}");
        }
    }
}
