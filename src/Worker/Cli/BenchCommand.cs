using System.CommandLine;
using System.Globalization;
using System.Text;
using Triage.Classifier.Evaluation;
using Triage.Classifier.Models;
using Triage.Classifier.Runtime;
using Triage.Classifier.Training;

namespace Triage.Worker.Cli;

/// <summary>
/// <c>triage bench</c>: dense vs pruning methods side by side in one process, same documents, batch policy and
/// threads, interleaved repetitions; a table on stdout plus Markdown, CSV and an SVG chart in the results folder.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var models = new Option<string[]>("--model") { Description = "NAME=DIR of a Triage model; repeat for each method (the dense one is the reference).", Required = true, AllowMultipleArgumentsPerToken = true };
        var data = new Option<FileInfo>("--data") { Required = true };
        var split = new Option<string>("--split") { DefaultValueFactory = _ => "test" };
        var limit = new Option<int?>("--limit") { Description = "N documents evenly spaced through the split (every label covered even in a file sorted by label)." };
        var repetitions = new Option<int>("--repetitions") { DefaultValueFactory = _ => 3 };
        var trainingRepetitions = new Option<int>("--training-repetitions") { Description = "Also time forward + backward passes (the paper's training-cost protocol); 0 skips them.", DefaultValueFactory = _ => 1 };
        var maxBatchTokens = new Option<int>("--max-batch-tokens") { DefaultValueFactory = _ => 16384 };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 0 };
        var output = new Option<DirectoryInfo>("--output") { DefaultValueFactory = _ => new DirectoryInfo("results/bench") };
        var command = new Command("bench", "Benchmark models (methods) side by side on the same documents.") { models, data, split, limit, repetitions, trainingRepetitions, maxBatchTokens, threads, output };
        command.SetAction((parse, cancellationToken) =>
        {
            var threadCount = TorchRuntime.ConfigureThreads(parse.GetValue(threads));
            var documents = LabelledDataset.Load(parse.GetValue(data)!.FullName).Split(parse.GetValue(split)!);
            documents = LabelledDataset.EvenlySpaced(documents, parse.GetValue(limit));

            var loaded = parse.GetValue(models)!.Select(spec =>
            {
                var at = spec.IndexOf('=', StringComparison.Ordinal);
                if (at <= 0)
                {
                    throw new ArgumentException($"--model expects NAME=DIR, got '{spec}'.");
                }

                return (Name: spec[..at], Model: TriageModel.Load(spec[(at + 1)..]));
            }).ToList();
            try
            {
                var rows = MethodBenchmark.Run(loaded, documents, parse.GetValue(maxBatchTokens), parse.GetValue(repetitions), Console.Error.WriteLine, cancellationToken, parse.GetValue(trainingRepetitions));
                var machine = $"{CpuModel()}, {Environment.ProcessorCount} logical cores, {threadCount} libtorch threads, {documents.Count} documents, max {parse.GetValue(maxBatchTokens)} batch tokens, {parse.GetValue(repetitions)} interleaved repetitions (median)";
                var markdown = Markdown(rows, machine);
                Console.WriteLine(markdown);
                var folder = parse.GetValue(output)!;
                folder.Create();
                File.WriteAllText(Path.Combine(folder.FullName, "bench.md"), markdown);
                File.WriteAllText(Path.Combine(folder.FullName, "bench.csv"), Csv(rows));
                File.WriteAllText(Path.Combine(folder.FullName, "bench.svg"), Svg(rows, machine));
                Console.Error.WriteLine($"wrote {folder.FullName}/bench.md, bench.csv, bench.svg");
            }
            finally
            {
                foreach (var (_, model) in loaded)
                {
                    model.Dispose();
                }
            }

            return Task.FromResult(0);
        });
        return command;
    }

    internal static string Markdown(IReadOnlyList<MethodBenchmarkRow> rows, string machine)
    {
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.AppendLine(c, $"Machine: {machine}");
        text.AppendLine();
        text.AppendLine("| model | method | accuracy | macro-F1 | docs/s | speed-up | peak memory (MiB above idle) | memory vs dense | tokens attended / doc | attended vs dense |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            text.AppendLine(c, $"| {r.Name} | {r.Method} | {r.Accuracy:P2} | {r.MacroF1:P2} | {r.DocsPerSecond:F2} | {r.SpeedUp:F2}x | {r.PeakMemoryBytes / (1024.0 * 1024):F0} | {r.MemoryRatio:F2}x | {r.TokensAttended:F1} | {r.TokensAttendedRatio:F2}x |");
        }

        if (rows.All(r => r.Training is not null))
        {
            text.AppendLine();
            text.AppendLine("Training step (forward + backward, first window per document; the paper's efficiency protocol):");
            text.AppendLine();
            text.AppendLine("| model | docs/s | speed-up | peak memory (MiB above idle) | memory vs dense |");
            text.AppendLine("|---|---|---|---|---|");
            foreach (var r in rows)
            {
                var t = r.Training!;
                text.AppendLine(c, $"| {r.Name} | {t.DocsPerSecond:F2} | {t.SpeedUp:F2}x | {t.PeakMemoryBytes / (1024.0 * 1024):F0} | {t.MemoryRatio:F2}x |");
            }
        }

        text.AppendLine();
        text.AppendLine("Per-layer profile (one extra pass per model): milliseconds per layer over the pass, and keys attended per layer (mean per document).");
        text.AppendLine();
        var layerCount = rows.Max(r => r.Profile.LayerMilliseconds.Count);
        text.AppendLine("| model | " + string.Join(" | ", Enumerable.Range(1, layerCount).Select(l => $"L{l} ms (keys)")) + " | other ms | total ms |");
        text.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---|", layerCount + 2)));
        foreach (var r in rows)
        {
            var p = r.Profile;
            var cells = Enumerable.Range(0, layerCount).Select(l => l < p.LayerMilliseconds.Count
                ? string.Create(c, $"{p.LayerMilliseconds[l]:F0} ({(l < p.TokensAttendedPerLayer.Count ? p.TokensAttendedPerLayer[l] : 0):F0})")
                : "–");
            text.AppendLine(c, $"| {r.Name} | {string.Join(" | ", cells)} | {p.OtherMilliseconds:F0} | {p.LayerMilliseconds.Sum() + p.OtherMilliseconds:F0} |");
        }

        return text.ToString();
    }

    private static string Csv(IReadOnlyList<MethodBenchmarkRow> rows)
    {
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder("name,method,model_version,accuracy,macro_f1,docs_per_second,speed_up,peak_memory_bytes,memory_ratio,tokens_attended,tokens_attended_ratio,training_docs_per_second,training_speed_up,training_peak_memory_bytes,training_memory_ratio,layer_milliseconds,tokens_attended_per_layer\n");
        foreach (var r in rows)
        {
            var t = r.Training;
            text.AppendLine(c, $"{r.Name},{r.Method},{r.ModelVersion},{r.Accuracy},{r.MacroF1},{r.DocsPerSecond},{r.SpeedUp},{r.PeakMemoryBytes},{r.MemoryRatio},{r.TokensAttended},{r.TokensAttendedRatio},{t?.DocsPerSecond},{t?.SpeedUp},{t?.PeakMemoryBytes},{t?.MemoryRatio},{string.Join(' ', r.Profile.LayerMilliseconds.Select(v => v.ToString("F1", c)))},{string.Join(' ', r.Profile.TokensAttendedPerLayer.Select(v => v.ToString("F1", c)))}");
        }

        return text.ToString();
    }

    /// <summary>Grouped bars: speed-up, memory ratio and attended-token ratio vs dense, per model.</summary>
    private static string Svg(IReadOnlyList<MethodBenchmarkRow> rows, string machine)
    {
        var c = CultureInfo.InvariantCulture;
        const int left = 60, top = 40, barWidth = 18, groupGap = 30, height = 260;
        var max = Math.Max(2.0, rows.Max(r => Math.Max(r.SpeedUp, Math.Max(double.IsNaN(r.MemoryRatio) ? 0 : r.MemoryRatio, r.TokensAttendedRatio))));
        var width = left + (rows.Count * ((3 * barWidth) + groupGap)) + 200;
        var svg = new StringBuilder();
        svg.AppendLine(c, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height + top + 90}\" font-family=\"sans-serif\" font-size=\"11\">");
        svg.AppendLine(c, $"<text x=\"{left}\" y=\"20\" font-size=\"13\">Methods vs dense (1.0 = dense)</text>");
        svg.AppendLine(c, $"<text x=\"{left}\" y=\"{height + top + 80}\" font-size=\"9\">{System.Security.SecurityElement.Escape(machine)}</text>");
        for (var tick = 0.0; tick <= max + 1e-9; tick += 0.5)
        {
            var y = top + height - (tick / max * height);
            svg.AppendLine(c, $"<line x1=\"{left - 4}\" x2=\"{width - 200}\" y1=\"{y:F1}\" y2=\"{y:F1}\" stroke=\"{(Math.Abs(tick - 1) < 1e-9 ? "#444" : "#ddd")}\"/><text x=\"{left - 8}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{tick:F1}</text>");
        }

        string[] colours = ["#1f77b4", "#ff7f0e", "#2ca02c"];
        string[] names = ["docs/s speed-up", "peak memory ratio", "tokens attended ratio"];
        for (var i = 0; i < rows.Count; i++)
        {
            var x0 = left + 10 + (i * ((3 * barWidth) + groupGap));
            double[] values = [rows[i].SpeedUp, double.IsNaN(rows[i].MemoryRatio) ? 0 : rows[i].MemoryRatio, rows[i].TokensAttendedRatio];
            for (var k = 0; k < 3; k++)
            {
                var h = values[k] / max * height;
                svg.AppendLine(c, $"<rect x=\"{x0 + (k * barWidth)}\" y=\"{top + height - h:F1}\" width=\"{barWidth - 2}\" height=\"{h:F1}\" fill=\"{colours[k]}\"><title>{names[k]} {values[k]:F2}</title></rect>");
            }

            svg.AppendLine(c, $"<text x=\"{x0 + (1.5 * barWidth)}\" y=\"{top + height + 16}\" text-anchor=\"middle\">{System.Security.SecurityElement.Escape(rows[i].Name)}</text>");
        }

        for (var k = 0; k < 3; k++)
        {
            svg.AppendLine(c, $"<rect x=\"{width - 190}\" y=\"{top + (k * 18)}\" width=\"12\" height=\"12\" fill=\"{colours[k]}\"/><text x=\"{width - 172}\" y=\"{top + 10 + (k * 18)}\">{names[k]}</text>");
        }

        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    private static string CpuModel()
    {
        const string info = "/proc/cpuinfo";
        return File.Exists(info)
            ? File.ReadLines(info).FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU"
            : "unknown CPU";
    }
}
