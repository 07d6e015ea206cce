using System.Diagnostics;
using System.Runtime.InteropServices;
using Triage.Classifier.Inference;
using Triage.Classifier.Models;
using Triage.Classifier.Pruning;
using Triage.Classifier.Training;

namespace Triage.Classifier.Evaluation;

/// <summary>One method's figures in a side-by-side benchmark.</summary>
public sealed record MethodBenchmarkRow(
    string Name,
    string Method,
    string ModelVersion,
    double Accuracy,
    double MacroF1,
    double DocsPerSecond,
    double SpeedUp,
    long PeakMemoryBytes,
    double MemoryRatio,
    double TokensAttended,
    double TokensAttendedRatio,
    IReadOnlyList<double> RepetitionDocsPerSecond,
    LayerProfile Profile,
    TrainingCost? Training);

/// <summary>
/// The cost of one fine-tuning pass (forward + backward, no optimiser step) over the same documents: the paper's
/// protocol (its Table 3 reports training costs), where every layer's activations are kept for the backward pass, so
/// memory follows the tokens each layer keeps. Inference frees each layer's activations as the next exists, so its
/// peak is set by the first, always full-length layer.
/// </summary>
public sealed record TrainingCost(double DocsPerSecond, double SpeedUp, long PeakMemoryBytes, double MemoryRatio);

/// <summary>Where one pass over the documents spends its time, from a separate (untimed-for-speed) profile pass.</summary>
/// <param name="LayerMilliseconds">Per layer: wall time from the previous layer's output to this one's, summed over the pass
/// (for PTC this includes scoring and selecting the next layer's keys; for LTP the threshold gather).</param>
/// <param name="OtherMilliseconds">The rest of the pass: tokenised batches to tensors, embeddings, pooling, head, softmax.</param>
/// <param name="TokensAttendedPerLayer">Keys attended per layer, mean per document.</param>
public sealed record LayerProfile(IReadOnlyList<double> LayerMilliseconds, double OtherMilliseconds, IReadOnlyList<double> TokensAttendedPerLayer);

/// <summary>
/// Runs several models on the same documents, same token-budget batch policy and thread count in one process,
/// interleaving the models across repetitions so machine noise hits all alike. Peak memory is the peak resident set
/// above the level before each model's pass (sampled every millisecond, after returning freed heap to the OS), so
/// models measured later are not charged for earlier ones.
/// </summary>
public static class MethodBenchmark
{
    public static IReadOnlyList<MethodBenchmarkRow> Run(
        IReadOnlyList<(string Name, TriageModel Model)> models,
        IReadOnlyList<LabelledDocument> documents,
        int maxBatchTokens,
        int repetitions,
        Action<string>? log,
        CancellationToken cancellationToken,
        int trainingRepetitions = 0)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(documents);
        if (models.Count == 0 || documents.Count == 0)
        {
            throw new ArgumentException("The benchmark needs at least one model and one document.");
        }

        var state = models.Select(m => new MethodState(m.Name, m.Model, documents)).ToList();
        foreach (var s in state)
        {
            s.Classifier.Classify([s.Prepared[0]]); // warm-up: lazy native initialisation, allocator growth
        }

        Interleaved(state, repetitions, cancellationToken, (s, repetition) =>
        {
            var (seconds, peak) = TimedPass(s, maxBatchTokens);
            s.Seconds.Add(seconds);
            s.PeakBytes = Math.Max(s.PeakBytes, peak);
            log?.Invoke($"repetition {repetition + 1}/{repetitions}: {s.Name} {documents.Count / seconds:F2} docs/s");
        });

        // One profiled pass each, after the timed ones: the per-layer clock reads add a little overhead of their own.
        var profiles = state.ToDictionary(s => s, s => ProfiledPass(s, maxBatchTokens));

        // Training passes, interleaved the same way (the paper's efficiency protocol).
        Interleaved(state, trainingRepetitions, cancellationToken, (s, repetition) =>
        {
            var (seconds, peak) = TrainingPass(s, documents, maxBatchTokens);
            s.TrainingSeconds.Add(seconds);
            s.TrainingPeakBytes = Math.Max(s.TrainingPeakBytes, peak);
            log?.Invoke($"training repetition {repetition + 1}/{trainingRepetitions}: {s.Name} {documents.Count / seconds:F2} docs/s");
        });

        var labels = documents.Select(d => d.Label).ToList();
        var rows = state.Select(s =>
        {
            var labelIndex = s.Model.Manifest.Labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i, StringComparer.Ordinal);
            var report = ClassificationReport.Compute(s.Model.Manifest.Labels, labels.Select(l => labelIndex[l]).ToList(),
                s.Predictions!.Select(p => s.Model.Manifest.Labels.Select(l => p.Probabilities[l]).ToArray()).ToList());
            var median = Median(s.Seconds);
            return (s, report, docsPerSecond: documents.Count / median, attended: s.Predictions!.Average(p => p.TokensAttended));
        }).ToList();
        var dense = rows.FirstOrDefault(r => r.s.Model.Manifest.Method.Name == "dense");
        var reference = dense.s is null ? rows[0] : dense;
        return rows.Select(r => new MethodBenchmarkRow(
            r.s.Name,
            r.s.Model.Manifest.Method.Name,
            r.s.Model.Manifest.ModelVersion,
            r.report.Accuracy,
            r.report.MacroF1,
            r.docsPerSecond,
            r.docsPerSecond / reference.docsPerSecond,
            r.s.PeakBytes,
            reference.s.PeakBytes == 0 ? double.NaN : (double)r.s.PeakBytes / reference.s.PeakBytes,
            r.attended,
            r.attended / reference.attended,
            r.s.Seconds.Select(sec => documents.Count / sec).ToList(),
            profiles[r.s],
            Training(r.s, reference.s, documents.Count))).ToList();
    }

    /// <summary>Runs <paramref name="pass"/> for every model, <paramref name="repetitions"/> times, rotating the order every
    /// repetition: no model always runs first (cold caches) or last.</summary>
    private static void Interleaved(List<MethodState> state, int repetitions, CancellationToken cancellationToken, Action<MethodState, int> pass)
    {
        for (var repetition = 0; repetition < repetitions; repetition++)
        {
            for (var k = 0; k < state.Count; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                pass(state[(k + repetition) % state.Count], repetition);
            }
        }
    }

    private static TrainingCost? Training(MethodState s, MethodState reference, int documents)
    {
        if (s.TrainingSeconds.Count == 0 || reference.TrainingSeconds.Count == 0)
        {
            return null;
        }

        var docsPerSecond = documents / Median(s.TrainingSeconds);
        return new TrainingCost(
            docsPerSecond,
            docsPerSecond / (documents / Median(reference.TrainingSeconds)),
            s.TrainingPeakBytes,
            reference.TrainingPeakBytes == 0 ? double.NaN : (double)s.TrainingPeakBytes / reference.TrainingPeakBytes);
    }

    /// <summary>Forward + cross-entropy + backward per token-budget batch, in training mode (dropout, Gumbel noise, LTP's
    /// hard stage: what its final fine-tuning stage runs), gradients dropped after each batch. First window per document,
    /// as fine-tuning reads it.</summary>
    private static (double Seconds, long PeakBytes) TrainingPass(MethodState s, IReadOnlyList<LabelledDocument> documents, int maxBatchTokens)
    {
        var model = s.Model;
        var network = model.Network;
        var labelIndex = model.Manifest.Labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => (long)p.i, StringComparer.Ordinal);
        var ltp = network.Strategy as LtpStrategy;
        var stage = ltp?.Stage;
        using var peak = PeakResidentSampler.Start();
        var clock = Stopwatch.StartNew();
        network.train();
        if (ltp is not null)
        {
            ltp.Stage = LtpStage.Hard;
        }

        try
        {
            foreach (var batch in ModelEvaluator.TokenBudget(s.Order, i => s.Prepared[i], maxBatchTokens))
            {
                using var scope = TorchSharp.torch.NewDisposeScope();
                var (ids, mask) = DocumentClassifier.Batch(batch.Select(i => s.Prepared[i].Windows[0]).ToList(), model.Tokenizer.PadId, model.Device);
                var target = TorchSharp.torch.tensor(batch.Select(i => labelIndex[documents[i].Label]).ToArray(), device: model.Device);
                using var output = network.Forward(ids, mask);
                var loss = TorchSharp.torch.nn.functional.cross_entropy(output.Logits, target);
                loss.backward();
                network.zero_grad();
                ltp?.TakeRegularizationLoss()?.Dispose();
            }
        }
        finally
        {
            network.eval();
            network.zero_grad();
            if (ltp is not null && stage is { } previous)
            {
                ltp.Stage = previous;
            }
        }

        clock.Stop();
        return (clock.Elapsed.TotalSeconds, peak.PeakAboveStart);
    }

    private static LayerProfile ProfiledPass(MethodState s, int maxBatchTokens)
    {
        var observer = new LayerTimingObserver(synchronize: true);
        var clock = Stopwatch.StartNew();
        var predictions = ModelEvaluator.ClassifyAll(s.Classifier, s.Prepared, s.Order, maxBatchTokens, observer, CancellationToken.None);
        clock.Stop();
        var layers = observer.Elapsed.OrderBy(e => e.Key).Select(e => e.Value.TotalMilliseconds).ToList();
        return new LayerProfile(layers, Math.Max(0, clock.Elapsed.TotalMilliseconds - layers.Sum()), ModelEvaluator.MeanPerLayer(predictions));
    }

    private static (double Seconds, long PeakBytes) TimedPass(MethodState s, int maxBatchTokens)
    {
        using var peak = PeakResidentSampler.Start();
        var clock = Stopwatch.StartNew();
        s.Predictions = ModelEvaluator.ClassifyAll(s.Classifier, s.Prepared, s.Order, maxBatchTokens, observer: null, CancellationToken.None);
        clock.Stop();
        return (clock.Elapsed.TotalSeconds, peak.PeakAboveStart);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private sealed class MethodState
    {
        public MethodState(string name, TriageModel model, IReadOnlyList<LabelledDocument> documents)
        {
            Name = name;
            Model = model;
            Classifier = new DocumentClassifier(model);
            Prepared = documents.Select(d => Classifier.Prepare(d.Text)).ToArray();
            Order = Enumerable.Range(0, Prepared.Length).OrderBy(i => Prepared[i].LongestWindow).ToList();
        }

        public string Name { get; }

        public TriageModel Model { get; }

        public DocumentClassifier Classifier { get; }

        public PreparedDocument[] Prepared { get; }

        public List<int> Order { get; }

        public List<double> Seconds { get; } = [];

        public long PeakBytes { get; set; }

        public Prediction[]? Predictions { get; set; }

        public List<double> TrainingSeconds { get; } = [];

        public long TrainingPeakBytes { get; set; }
    }
}

/// <summary>Samples the resident set every millisecond from start (after returning freed heap to the OS) until
/// disposed; <see cref="PeakAboveStart"/> is the peak above the level at the start.</summary>
internal sealed class PeakResidentSampler : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly long _baseline;
    private readonly Task _sampler;
    private long _peak;

    private PeakResidentSampler()
    {
        NativeHeap.Trim();
        _baseline = ResidentMemory.CurrentBytes();
        _peak = _baseline;
        _sampler = Task.Run(() =>
        {
            while (!_stop.IsCancellationRequested)
            {
                Interlocked.Exchange(ref _peak, Math.Max(Interlocked.Read(ref _peak), ResidentMemory.CurrentBytes()));
                Thread.Sleep(1);
            }
        });
    }

    /// <summary>Peak so far above the start level, in bytes.</summary>
    public long PeakAboveStart => Math.Max(0, Interlocked.Read(ref _peak) - _baseline);

    public static PeakResidentSampler Start() => new();

    public void Dispose()
    {
        _stop.Cancel();
        _sampler.Wait();
        _stop.Dispose();
    }
}

/// <summary>Current resident set size (VmRSS on Linux).</summary>
internal static class ResidentMemory
{
    public static long CurrentBytes()
    {
        const string status = "/proc/self/statm";
        if (File.Exists(status))
        {
            var fields = File.ReadAllText(status).Split(' ');
            return long.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) * Environment.SystemPageSize;
        }

        return Environment.WorkingSet;
    }
}

/// <summary>Returns freed native heap to the OS (glibc <c>malloc_trim</c>), so resident memory reflects live data.</summary>
internal static partial class NativeHeap
{
    public static void Trim()
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                _ = MallocTrim(0);
            }
            catch (EntryPointNotFoundException)
            {
                // Not glibc (e.g. musl): resident memory then includes cached heap; figures stay comparable within a run.
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
