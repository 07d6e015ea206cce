using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Triage.Classifier.Evaluation;
using Triage.Classifier.Runtime;
using Triage.Classifier.Training;

namespace Triage.Worker.Cli;

/// <summary><c>triage baseline</c>: the TF-IDF + logistic-regression baseline on the same splits, for the model card.</summary>
internal static class BaselineCommand
{
    public static Command Create()
    {
        var data = new Option<FileInfo>("--data") { Required = true };
        var split = new Option<string>("--split") { DefaultValueFactory = _ => "test" };
        var iterations = new Option<int>("--iterations") { DefaultValueFactory = _ => 300 };
        var l2 = new Option<double>("--l2") { DefaultValueFactory = _ => 1e-4 };
        var command = new Command("baseline", "TF-IDF (word uni+bigrams) + logistic regression trained on train, scored on a split.") { data, split, iterations, l2 };
        command.SetAction(parse =>
        {
            TorchRuntime.ConfigureThreads(0);
            var dataset = LabelledDataset.Load(parse.GetValue(data)!.FullName);
            var labels = dataset.Labels;
            var clock = Stopwatch.StartNew();
            var model = LinearBaseline.Fit(dataset.Split("train"), labels, new LinearBaselineOptions { Iterations = parse.GetValue(iterations), L2 = parse.GetValue(l2) });
            var fitSeconds = clock.Elapsed.TotalSeconds;
            var documents = dataset.Split(parse.GetValue(split)!);
            clock.Restart();
            var probabilities = model.PredictProbabilities(documents.Select(d => d.Text).ToList());
            var predictSeconds = clock.Elapsed.TotalSeconds;
            var labelIndex = labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i, StringComparer.Ordinal);
            var report = ClassificationReport.Compute(labels, documents.Select(d => labelIndex[d.Label]).ToList(), probabilities);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"TF-IDF + logistic regression ({model.FeatureCount} features): accuracy {report.Accuracy:P2}, macro-F1 {report.MacroF1:P2}, micro-F1 {report.MicroF1:P2}, ECE {report.Ece:F4} on {report.Documents} {parse.GetValue(split)} documents; fit {fitSeconds:F1} s, {documents.Count / predictSeconds:F0} docs/s"));
            return 0;
        });
        return command;
    }
}
