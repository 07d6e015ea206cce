using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Triage.Classifier.Inference;
using Triage.Worker.Batching;
using Triage.Worker.Hosting;
using Triage.Worker.Pipeline;

namespace Triage.Worker.Cli;

/// <summary><c>triage classify FILE… [--model DIR] [--json]</c>: one-shot classification of local files, no queue.</summary>
internal static class ClassifyCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public static Command Create(CliGlobals globals)
    {
        var files = new Argument<string[]>("files") { Description = "Text files (or directories of them) to classify", Arity = ArgumentArity.OneOrMore };
        var model = new Option<string?>("--model") { Description = "Triage model directory (default: Model:Path)", HelpName = "DIR" };
        var json = new Option<bool>("--json") { Description = "One JSON object per document instead of a table" };
        var command = new Command("classify", "Classify files directly with the model, without the queue") { files, model, json };
        command.SetAction((parseResult, cancellationToken) => CliRunner.RunAsync(parseResult, async output =>
        {
            using var host = TriageHost.CreateBuilder(parseResult, globals, quiet: true).AddTriageOptions().Build();
            var modelOptions = host.Services.GetRequiredService<IOptions<ModelOptions>>().Value;
            var batching = host.Services.GetRequiredService<IOptions<BatchingOptions>>().Value;
            var path = ModelPaths.Resolve(parseResult.GetValue(model) ?? modelOptions.Path);
            using var classifier = TriageBatchClassifier.Load(path, modelOptions.Device, modelOptions.Threads);
            return await ClassifyAsync(classifier, Expand(parseResult.GetRequiredValue(files)), batching, parseResult.GetValue(json), output, parseResult.InvocationConfiguration.Error, cancellationToken).ConfigureAwait(false);
        }));
        return command;
    }

    internal static async Task<int> ClassifyAsync(
        IBatchClassifier classifier, IReadOnlyList<string> paths, BatchingOptions batching, bool json, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var exitCode = CliRunner.Ok;
        var builder = new TokenBudgetBatchBuilder<(string Path, PreparedDocument Document)>(batching.MaxBatchTokens, batching.MaxBatchDocuments, TimeSpan.Zero);
        var batches = new List<DocumentBatch<(string Path, PreparedDocument Document)>>();
        var now = DateTimeOffset.UnixEpoch;
        foreach (var path in paths)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string text;
            try
            {
                text = await File.ReadAllTextAsync(path, new UTF8Encoding(false, throwOnInvalidBytes: true), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or DecoderFallbackException)
            {
                await error.WriteLineAsync($"error: {path}: {exception.Message}").ConfigureAwait(false);
                exitCode = CliRunner.Failed;
                continue;
            }

            var prepared = classifier.Prepare(text);
            if (prepared.DocumentTokens == 0)
            {
                await error.WriteLineAsync($"error: {path}: the text has no tokens to classify").ConfigureAwait(false);
                exitCode = CliRunner.Failed;
                continue;
            }

            batches.AddRange(builder.Add((path, prepared), Cost(prepared), now));
        }

        batches.AddRange(builder.FlushAll());
        var rows = new List<(string Path, Prediction Prediction, PreparedDocument Document)>();
        foreach (var batch in batches)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var predictions = classifier.Classify(batch.Items.Select(i => i.Document).ToList());
            rows.AddRange(batch.Items.Zip(predictions, (item, prediction) => (item.Path, prediction, item.Document)));
        }

        // Batching regroups by length; print in the order the files were given.
        var order = paths.Select((p, i) => (p, i)).GroupBy(x => x.p, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().i, StringComparer.Ordinal);
        rows.Sort((a, b) => order[a.Path].CompareTo(order[b.Path]));
        if (json)
        {
            foreach (var (path, prediction, document) in rows)
            {
                var line = new ClassifyJsonLine(
                    DocumentId(path), path, classifier.Info.Version, prediction.Label, prediction.Confidence, prediction.Probabilities,
                    document.DocumentTokens, prediction.InputTokens, prediction.TokensAttended);
                await output.WriteLineAsync(JsonSerializer.Serialize(line, Json)).ConfigureAwait(false);
            }
        }
        else if (rows.Count > 0)
        {
            var width = Math.Max(8, rows.Max(r => DocumentId(r.Path).Length));
            var labelWidth = Math.Max(5, rows.Max(r => r.Prediction.Label.Length));
            await output.WriteLineAsync($"{"DOCUMENT".PadRight(width)}  {"LABEL".PadRight(labelWidth)}  CONFIDENCE  FILE").ConfigureAwait(false);
            foreach (var (path, prediction, _) in rows)
            {
                var confidence = prediction.Confidence.ToString("0.000", CultureInfo.InvariantCulture);
                await output.WriteLineAsync($"{DocumentId(path).PadRight(width)}  {prediction.Label.PadRight(labelWidth)}  {confidence,10}  {path}").ConfigureAwait(false);
            }
        }

        return exitCode;
    }

    internal static BatchCost Cost(PreparedDocument document) => new(document.Windows.Count, document.LongestWindow, document.InputTokens);

    /// <summary>A document's id is its file name without the extension, as <c>enqueue</c> sets it.</summary>
    internal static string DocumentId(string path) => Path.GetFileNameWithoutExtension(path);

    /// <summary>Files as given; a directory stands for its files (top level, sorted).</summary>
    internal static IReadOnlyList<string> Expand(IEnumerable<string> inputs) =>
        inputs.SelectMany<string, string>(p => Directory.Exists(p) ? Directory.GetFiles(p).Order(StringComparer.Ordinal) : [p]).ToList();

    private sealed record ClassifyJsonLine(
        string Id, string File, string ModelVersion, string Label, double Confidence, IReadOnlyDictionary<string, double> Probabilities,
        int DocumentTokens, int InputTokens, double TokensAttended);
}
