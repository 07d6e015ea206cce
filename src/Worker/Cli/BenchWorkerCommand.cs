using System.CommandLine;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Triage.Classifier.Inference;
using Triage.Classifier.Training;
using Triage.Worker.Batching;
using Triage.Worker.Hosting;
using Triage.Worker.Metrics;
using Triage.Worker.Pipeline;
using Triage.Worker.Queues;

namespace Triage.Worker.Cli;

/// <summary>
/// <c>triage bench-worker --data FILE [--split test] [--model DIR] [--repetitions 2]</c>: how much of the model's
/// throughput the worker keeps. Raw: the worker's classifier and token-budget batch builder over the documents, no
/// queue. End to end: the same documents enqueued into a fresh embedded queue in a scratch data directory, then the
/// real host pipeline with <c>--drain</c> semantics, results into SQLite, timed by the run from its first receive to
/// drained. The two alternate (raw, end to end, raw, …) and medians are reported, with the batch fill ratio read from
/// the <c>Triage</c> meter in-process. Both use the same loaded model, batching settings and libtorch threads;
/// <c>--set</c> overrides apply to both (the global <c>--data-dir</c> is not used).
/// </summary>
internal static class BenchWorkerCommand
{
    /// <summary>A drained run ends with a receive that finds nothing; the default 1 s wait for it would be timed
    /// too, so the benchmark waits 100 ms (override with <c>--set Worker:ReceiveWait=…</c>).</summary>
    private const string DefaultReceiveWait = "00:00:00.100";

    public static Command Create(CliGlobals globals)
    {
        var data = new Option<FileInfo>("--data") { Description = "Labelled JSON Lines or CSV (id, split, label, text), e.g. ../shared/assets/datasets/bbc-news/bbc-news.jsonl", Required = true };
        var split = new Option<string>("--split") { DefaultValueFactory = _ => "test" };
        var model = new Option<string>("--model") { Description = "Triage model directory", HelpName = "DIR", DefaultValueFactory = _ => ModelOptions.DefaultPath };
        var limit = new Option<int?>("--limit") { Description = "N documents evenly spaced through the split (every label covered even in a file sorted by label)." };
        var repetitions = new Option<int>("--repetitions") { Description = "Raw and end-to-end passes each, interleaved; medians are reported", DefaultValueFactory = _ => 2 };
        var command = new Command("bench-worker", "Raw model docs/s vs end-to-end worker docs/s (embedded queue → SQLite) on the same documents.") { data, split, model, limit, repetitions };
        command.SetAction((parseResult, cancellationToken) => CliRunner.RunAsync(parseResult, async output =>
        {
            var runs = parseResult.GetValue(repetitions);
            if (runs < 1)
            {
                throw new ArgumentException("--repetitions must be at least 1.");
            }

            var file = parseResult.GetValue(data)!;
            var documents = LabelledDataset.EvenlySpaced(LabelledDataset.Load(file.FullName).Split(parseResult.GetValue(split)!), parseResult.GetValue(limit));

            if (documents.Count == 0)
            {
                throw new ArgumentException($"{file.FullName} has no documents in split '{parseResult.GetValue(split)}'.");
            }

            var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
            {
                ["Model:Path"] = ModelPaths.Resolve(parseResult.GetValue(model)!),
                ["Worker:ReceiveWait"] = DefaultReceiveWait,
                ["Logging:LogLevel:Default"] = "Warning",
            };
            foreach (var (key, value) in TriageHost.ParseSettings(parseResult.GetValue(globals.Set) ?? []))
            {
                settings[key] = value;
            }

            var bench = new Bench(documents, settings, $"the {parseResult.GetValue(split)} split of {file.Name}", runs, output, parseResult.InvocationConfiguration.Error);
            await bench.RunAsync(cancellationToken).ConfigureAwait(false);
            return CliRunner.Ok;
        }));
        return command;
    }

    private sealed class Bench(IReadOnlyList<LabelledDocument> documents, IReadOnlyDictionary<string, string?> settings, string source, int repetitions, TextWriter output, TextWriter progress)
    {
        private static readonly CultureInfo C = CultureInfo.InvariantCulture;

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            // The options exactly as the worker host binds them (validated), for the raw pass and the report.
            var scratch = Directory.CreateTempSubdirectory("triage-bench-worker-").FullName;
            try
            {
                ModelOptions model;
                BatchingOptions batching;
                WorkerOptions worker;
                using (var options = TriageHost.CreateBuilder(scratch, settings, quiet: true).AddTriageOptions().Build())
                {
                    model = options.Services.GetRequiredService<IOptions<ModelOptions>>().Value;
                    batching = options.Services.GetRequiredService<IOptions<BatchingOptions>>().Value;
                    worker = options.Services.GetRequiredService<IOptions<WorkerOptions>>().Value;
                }

                var loadBefore = LoadAverage();
                using var classifier = TriageBatchClassifier.Load(ModelPaths.Resolve(model.Path), model.Device, model.Threads);
                var threads = TorchSharp.torch.get_num_threads();
                classifier.Classify([classifier.Prepare(documents[0].Text)]); // warm-up: lazy native initialisation

                var raw = new List<RawPass>();
                var endToEnd = new List<EndToEndPass>();
                for (var i = 1; i <= repetitions; i++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    raw.Add(RunRaw(classifier, batching));
                    await progress.WriteLineAsync(string.Create(C, $"repetition {i}/{repetitions}: raw {raw[^1].ModelDocsPerSecond:F1} docs/s")).ConfigureAwait(false);
                    endToEnd.Add(await RunEndToEndAsync(classifier, Path.Combine(scratch, $"run-{i}"), cancellationToken).ConfigureAwait(false));
                    await progress.WriteLineAsync(string.Create(C, $"repetition {i}/{repetitions}: end to end {endToEnd[^1].DocsPerSecond:F1} docs/s")).ConfigureAwait(false);
                }

                var loadAfter = LoadAverage();
                var rawModel = Median(raw.Select(r => r.ModelDocsPerSecond));
                var e2e = Median(endToEnd.Select(e => e.DocsPerSecond));
                string[] lines =
                [
                    $"bench-worker: {documents.Count} documents ({source}), model {classifier.Info.Version} ({classifier.Info.Method}, {classifier.Info.Device}), {repetitions} interleaved repetitions, medians",
                    $"machine: {CpuModel()}, {Environment.ProcessorCount} logical cores, {threads} libtorch threads, load average {loadBefore} before, {loadAfter} after",
                    string.Create(C, $"batching: max {batching.MaxBatchTokens} tokens, {batching.MaxBatchDocuments} documents, max wait {batching.MaxWait.TotalMilliseconds:0} ms; worker: {worker.MaxConcurrentBatches} concurrent batches, {worker.EffectiveMaxInFlight(batching.MaxBatchDocuments)} in flight, receive wait {worker.ReceiveWait.TotalMilliseconds:0} ms"),
                    string.Create(C, $"raw model (pre-tokenised, no queue): {rawModel,8:F1} docs/s  [{Join(raw.Select(r => r.ModelDocsPerSecond))}]"),
                    string.Create(C, $"raw with tokenisation:               {Median(raw.Select(r => r.DocsPerSecondWithTokenisation)),8:F1} docs/s  [{Join(raw.Select(r => r.DocsPerSecondWithTokenisation))}]"),
                    string.Create(C, $"end-to-end worker (queue → SQLite):  {e2e,8:F1} docs/s  [{Join(endToEnd.Select(e => e.DocsPerSecond))}]  first receive → drained"),
                    string.Create(C, $"  first receive → last settlement:   {Median(endToEnd.Select(e => e.DocsPerSecondToLastSettlement)),8:F1} docs/s"),
                    // Each end-to-end pass runs right after its raw pass, so their ratio cancels slow drift in the
                    // machine's load better than the ratio of the medians does; both are shown.
                    string.Create(C, $"ratio end-to-end / raw model: {e2e / rawModel:P1} (goal ≥ 90%); paired per repetition: median {Median(raw.Zip(endToEnd, (r, e) => e.DocsPerSecond / r.ModelDocsPerSecond)):P1} [{string.Join(", ", raw.Zip(endToEnd, (r, e) => (e.DocsPerSecond / r.ModelDocsPerSecond).ToString("P1", C)))}]"),
                    string.Create(C, $"mean batch fill ratio: worker {Median(endToEnd.Select(e => e.MeanFillRatio)):F3} over {Median(endToEnd.Select(e => (double)e.Batches)):0} batches (Triage meter); raw {Median(raw.Select(r => r.MeanFillRatio)):F3} over {Median(raw.Select(r => (double)r.Batches)):0} batches"),
                ];
                foreach (var line in lines)
                {
                    await output.WriteLineAsync(line).ConfigureAwait(false);
                }
            }
            finally
            {
                TryDelete(scratch);
            }
        }

        /// <summary>Tokenised in parallel as the worker's tokeniser tasks do (timed apart), then batched by the
        /// worker's builder with no wait (every document is at hand) and classified on this one thread.</summary>
        private RawPass RunRaw(IBatchClassifier classifier, BatchingOptions batching)
        {
            var clock = Stopwatch.StartNew();
            var prepared = documents.AsParallel().AsOrdered().WithDegreeOfParallelism(batching.EffectiveTokenizerWorkers)
                .Select(d => classifier.Prepare(d.Text)).ToArray();
            var tokenising = clock.Elapsed;
            clock.Restart();
            var builder = new TokenBudgetBatchBuilder<PreparedDocument>(batching.MaxBatchTokens, batching.MaxBatchDocuments, TimeSpan.Zero);
            var fill = new List<double>();
            var classified = 0;
            void Classify(DocumentBatch<PreparedDocument> batch)
            {
                classified += classifier.Classify(batch.Items).Count;
                fill.Add(batch.FillRatio);
            }

            foreach (var document in prepared.Where(p => p.DocumentTokens > 0))
            {
                foreach (var batch in builder.Add(document, ClassifyCommand.Cost(document), DateTimeOffset.UnixEpoch))
                {
                    Classify(batch);
                }
            }

            foreach (var batch in builder.FlushAll())
            {
                Classify(batch);
            }

            var model = clock.Elapsed;
            return new RawPass(classified / model.TotalSeconds, classified / (model + tokenising).TotalSeconds, fill.Average(), fill.Count);
        }

        /// <summary>A fresh queue and database, the documents enqueued (not timed), then the worker host as
        /// <c>triage run --drain</c> builds it, with the already loaded model handed to its loader.</summary>
        private async Task<EndToEndPass> RunEndToEndAsync(IBatchClassifier classifier, string dataDir, CancellationToken cancellationToken)
        {
            Directory.CreateDirectory(dataDir);
            try
            {
                var builder = TriageHost.CreateBuilder(dataDir, settings, quiet: true);
                builder.Services.AddSingleton<IBatchClassifierLoader>(new LoadedClassifier(classifier));
                builder.AddTriageWorker(drain: true, TextWriter.Null);
                var host = builder.Build();
                var state = host.Services.GetRequiredService<WorkerRunState>();
                var transport = host.Services.GetRequiredService<IQueueTransport>();
                foreach (var document in documents)
                {
                    var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["id"] = document.Id, ["text"] = document.Text });
                    await transport.SendAsync(new OutgoingMessage(document.Id, body) { ContentType = "application/json" }, cancellationToken).ConfigureAwait(false);
                }

                using var meter = new WorkerMeterReader(host.Services.GetRequiredService<TriageMetrics>().Meter);
                await host.RunAsync(cancellationToken).ConfigureAwait(false); // disposes the host
                if (state.ExitCode != 0 || state.Summary is not { } summary)
                {
                    throw new InvalidOperationException("The worker failed; rerun with --set Logging:LogLevel:Default=Information to see why.");
                }

                if (summary.Documents != documents.Count)
                {
                    throw new InvalidOperationException(
                        $"The worker processed {summary.Documents} of {documents.Count} documents (dead-lettered: {summary.DeadLettered.Values.Sum()}, failed attempts: {summary.Failed}).");
                }

                return new EndToEndPass(
                    summary.Documents / summary.Elapsed.TotalSeconds, summary.Documents / meter.ActiveSpan.TotalSeconds, meter.MeanFillRatio, meter.Batches);
            }
            finally
            {
                TryDelete(dataDir);
            }
        }

        private static string Join(IEnumerable<double> values) => string.Join(", ", values.Select(v => v.ToString("F1", C)));

        private static double Median(IEnumerable<double> values)
        {
            var sorted = values.Order().ToList();
            return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
        }

        private static string LoadAverage()
        {
            const string path = "/proc/loadavg";
            return File.Exists(path) ? string.Join(' ', File.ReadAllText(path).Split(' ').Take(3)) : "unknown";
        }

        private static string CpuModel()
        {
            const string info = "/proc/cpuinfo";
            return File.Exists(info)
                ? File.ReadLines(info).FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU"
                : "unknown CPU";
        }

        private static void TryDelete(string directory)
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // Scratch space in the temp directory; nothing depends on it being gone.
            }
        }
    }

    private sealed record RawPass(double ModelDocsPerSecond, double DocsPerSecondWithTokenisation, double MeanFillRatio, int Batches);

    private sealed record EndToEndPass(double DocsPerSecond, double DocsPerSecondToLastSettlement, double MeanFillRatio, int Batches);

    /// <summary>Hands the pipeline the model the benchmark already loaded, without giving it away (the pipeline
    /// disposes what its loader returns).</summary>
    private sealed class LoadedClassifier(IBatchClassifier classifier) : IBatchClassifierLoader, IBatchClassifier
    {
        public ModelInfo Info => classifier.Info;

        public IBatchClassifier Load(string path, string device, int threads) => this;

        public PreparedDocument Prepare(string text) => classifier.Prepare(text);

        public IReadOnlyList<Prediction> Classify(IReadOnlyList<PreparedDocument> batch) => classifier.Classify(batch);

        public void Dispose()
        {
            // Owned by the benchmark.
        }
    }

    /// <summary>Reads one worker host's <c>Triage</c> meter: batch fill ratios, and the span from the first
    /// receive (a settlement's time minus its <c>messaging.process.duration</c>) to the last settlement.</summary>
    private sealed class WorkerMeterReader : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Lock _gate = new();
        private double _fillSum;
        private int _batches;
        private long _firstReceive = long.MaxValue;
        private long _lastSettlement = long.MinValue;

        public WorkerMeterReader(Meter meter)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter, meter) && instrument.Name is "triage.batch.fill_ratio" or "messaging.process.duration")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
            {
                var now = Stopwatch.GetTimestamp();
                lock (_gate)
                {
                    if (instrument.Name == "triage.batch.fill_ratio")
                    {
                        _fillSum += value;
                        _batches++;
                    }
                    else
                    {
                        _firstReceive = Math.Min(_firstReceive, now - (long)(value * Stopwatch.Frequency));
                        _lastSettlement = Math.Max(_lastSettlement, now);
                    }
                }
            });
            _listener.Start();
        }

        public int Batches
        {
            get
            {
                lock (_gate)
                {
                    return _batches;
                }
            }
        }

        public double MeanFillRatio
        {
            get
            {
                lock (_gate)
                {
                    return _batches == 0 ? 0 : _fillSum / _batches;
                }
            }
        }

        public TimeSpan ActiveSpan
        {
            get
            {
                lock (_gate)
                {
                    return _lastSettlement == long.MinValue ? TimeSpan.Zero : Stopwatch.GetElapsedTime(_firstReceive, _lastSettlement);
                }
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
