using System.Diagnostics;
using Triage.Classifier.Inference;
using Triage.Classifier.Modeling;
using Triage.Classifier.Models;
using Triage.Classifier.Training;

namespace Triage.Classifier.Evaluation;

/// <summary>Quality plus speed and cost of a model on one split.</summary>
public sealed record EvaluationResult(
    ClassificationReport Report,
    double DocsPerSecond,
    double TokensPerSecond,
    long PeakMemoryBytes,
    double MeanInputTokens,
    double MeanTokensAttended,
    IReadOnlyList<double> MeanTokensAttendedPerLayer,
    int Threads,
    string Device);

/// <summary>Runs a model over a labelled split in token-budget batches and measures quality, speed and memory.</summary>
public static class ModelEvaluator
{
    public static EvaluationResult Evaluate(TriageModel model, IReadOnlyList<LabelledDocument> documents, int maxBatchTokens, int threads, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(documents);
        if (documents.Count == 0)
        {
            throw new ArgumentException("No documents to evaluate in that split.");
        }

        var labelIndex = model.Manifest.Labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i, StringComparer.Ordinal);
        var unknown = documents.FirstOrDefault(d => !labelIndex.ContainsKey(d.Label));
        if (unknown is not null)
        {
            throw new InvalidDataException($"Document '{unknown.Id}' has label '{unknown.Label}', which the model does not know ({string.Join(", ", model.Manifest.Labels)}).");
        }

        var classifier = new DocumentClassifier(model);
        var prepared = new PreparedDocument[documents.Count];
        Parallel.For(0, documents.Count, i => prepared[i] = classifier.Prepare(documents[i].Text));

        // Warm-up outside the clock: the first forward pays for lazy native initialisation.
        classifier.Classify([prepared[0]]);

        var order = Enumerable.Range(0, documents.Count).OrderBy(i => prepared[i].LongestWindow).ToList();
        var clock = Stopwatch.StartNew();
        var predictions = ClassifyAll(classifier, prepared, order, maxBatchTokens, observer: null, cancellationToken);
        clock.Stop();
        var truth = documents.Select(d => labelIndex[d.Label]).ToList();
        var probabilities = predictions.Select(p => model.Manifest.Labels.Select(l => p.Probabilities[l]).ToArray()).ToList();
        var report = ClassificationReport.Compute(model.Manifest.Labels, truth, probabilities);
        var seconds = Math.Max(1e-9, clock.Elapsed.TotalSeconds);
        return new EvaluationResult(
            report,
            documents.Count / seconds,
            predictions.Sum(p => (double)p.InputTokens) / seconds,
            PeakMemory.ReadPeakResidentBytes(),
            predictions.Average(p => p.InputTokens),
            predictions.Average(p => p.TokensAttended),
            MeanPerLayer(predictions),
            threads,
            model.Device.ToString());
    }

    /// <summary>Classifies <paramref name="prepared"/> in token-budget batches taken in <paramref name="order"/> (sorted by
    /// length); predictions come back in the documents' own order.</summary>
    public static Prediction[] ClassifyAll(DocumentClassifier classifier, IReadOnlyList<PreparedDocument> prepared, IReadOnlyList<int> order, int maxBatchTokens, ILayerObserver? observer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(prepared);
        var predictions = new Prediction[prepared.Count];
        foreach (var batch in TokenBudget(order, i => prepared[i], maxBatchTokens))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var results = classifier.Classify(batch.Select(i => prepared[i]).ToList(), observer);
            for (var k = 0; k < batch.Count; k++)
            {
                predictions[batch[k]] = results[k];
            }
        }

        return predictions;
    }

    /// <summary>Per layer, the keys attended averaged over documents.</summary>
    public static IReadOnlyList<double> MeanPerLayer(IReadOnlyList<Prediction> predictions)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        var layers = predictions.Count == 0 ? 0 : predictions.Max(p => p.TokensAttendedPerLayer.Count);
        return Enumerable.Range(0, layers).Select(l => predictions.Average(p => l < p.TokensAttendedPerLayer.Count ? p.TokensAttendedPerLayer[l] : 0)).ToList();
    }

    /// <summary>Groups indices (sorted by length) so that longest window × windows stays within the budget.</summary>
    public static IEnumerable<List<int>> TokenBudget(IReadOnlyList<int> sortedIndices, Func<int, PreparedDocument> document, int maxBatchTokens)
    {
        ArgumentNullException.ThrowIfNull(sortedIndices);
        ArgumentNullException.ThrowIfNull(document);
        var batch = new List<int>();
        int longest = 0, windows = 0;
        foreach (var index in sortedIndices)
        {
            var d = document(index);
            var newLongest = Math.Max(longest, d.LongestWindow);
            if (batch.Count > 0 && newLongest * (windows + d.Windows.Count) > maxBatchTokens)
            {
                yield return batch;
                batch = [];
                windows = 0;
                newLongest = d.LongestWindow;
            }

            batch.Add(index);
            windows += d.Windows.Count;
            longest = newLongest;
        }

        if (batch.Count > 0)
        {
            yield return batch;
        }
    }
}

/// <summary>Peak resident memory of this process (VmHWM on Linux; the managed peak working set elsewhere).</summary>
public static class PeakMemory
{
    public static long ReadPeakResidentBytes()
    {
        const string status = "/proc/self/status";
        if (File.Exists(status))
        {
            foreach (var line in File.ReadLines(status))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    var kb = long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
                    return kb * 1024;
                }
            }
        }

        return Process.GetCurrentProcess().PeakWorkingSet64;
    }
}
