using System.Diagnostics.Metrics;
using Triage.Worker.Pipeline;

namespace Triage.Worker.Metrics;

/// <summary>
/// The one <see cref="Meter"/> of the worker, named <c>Triage</c> (<c>dotnet-counters monitor -n triage --counters
/// Triage</c>). Names follow OpenTelemetry (lowercase, dot-separated), units are UCUM, histogram buckets are given
/// explicitly. Tokens are counted as the model actually processed them, not as estimated savings.
/// </summary>
internal sealed class TriageMetrics
{
    public const string MeterName = "Triage";

    private static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60];
    private static readonly double[] LagBuckets = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];
    private static readonly int[] DocumentBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];
    private static readonly int[] TokenBuckets = [256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
    private static readonly double[] RatioBuckets = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1];

    private readonly Counter<long> _processed;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _deadLettered;
    private readonly Counter<long> _tokensInput;
    private readonly Counter<double> _tokensAttended;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<int> _batchTokens;
    private readonly Histogram<double> _fillRatio;
    private readonly Histogram<double> _inferenceDuration;
    private readonly Histogram<double> _processDuration;
    private readonly Histogram<double> _queueLag;
    private ModelInfo? _model;
    private Func<int>? _inFlight;

    public TriageMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        Meter = meterFactory.Create(MeterName);
        _processed = Meter.CreateCounter<long>("triage.documents.processed", "{document}", "Documents classified and stored (their messages completed).");
        _failed = Meter.CreateCounter<long>("triage.documents.failed", "{document}", "Document attempts that failed and were abandoned for redelivery; tag error.type.");
        _deadLettered = Meter.CreateCounter<long>("triage.documents.dead_lettered", "{document}", "Messages dead-lettered by the worker; tag triage.dead_letter.reason.");
        _tokensInput = Meter.CreateCounter<long>("triage.tokens.input", "{token}", "Tokens fed to the encoder (all windows, specials included).");
        _tokensAttended = Meter.CreateCounter<double>("triage.tokens.attended", "{token}", "Keys attended averaged over layers: below triage.tokens.input when a pruning method drops tokens.");
        _batchSize = Meter.CreateHistogram("triage.batch.size", "{document}", "Documents per model batch.", advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = DocumentBuckets });
        _batchTokens = Meter.CreateHistogram("triage.batch.tokens", "{token}", "Padded tokens per batch (longest window × windows), the budgeted quantity.", advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = TokenBuckets });
        _fillRatio = Meter.CreateHistogram("triage.batch.fill_ratio", "1", "Real tokens / padded tokens per batch.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = RatioBuckets });
        _inferenceDuration = Meter.CreateHistogram("triage.inference.duration", "s", "Wall-clock time of one batch's forward pass.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _processDuration = Meter.CreateHistogram("messaging.process.duration", "s", "Receive to settlement of one message.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _queueLag = Meter.CreateHistogram("triage.queue.lag", "s", "Enqueue to result commit of one document.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LagBuckets });
        Meter.CreateObservableGauge("triage.model.info", ObserveModel, "1", "1 for the loaded model; tags triage.model.version, triage.model.method, triage.model.device.");
        Meter.CreateObservableUpDownCounter("triage.messages.in_flight", () => _inFlight?.Invoke() ?? 0, "{message}", "Messages received and locked, not yet settled.");
    }

    public Meter Meter { get; }

    public void SetModel(ModelInfo? model) => Volatile.Write(ref _model, model);

    public void SetInFlightSource(Func<int>? inFlight) => Volatile.Write(ref _inFlight, inFlight);

    public void DocumentProcessed(string label, int inputTokens, double tokensAttended, TimeSpan queueLag)
    {
        _processed.Add(1, new KeyValuePair<string, object?>("triage.label", label));
        _tokensInput.Add(inputTokens);
        _tokensAttended.Add(tokensAttended);
        _queueLag.Record(Math.Max(0, queueLag.TotalSeconds));
    }

    public void DocumentFailed(string errorType) => _failed.Add(1, new KeyValuePair<string, object?>("error.type", errorType));

    public void DocumentDeadLettered(string reason) => _deadLettered.Add(1, new KeyValuePair<string, object?>("triage.dead_letter.reason", reason));

    public void BatchClassified(int documents, long paddedTokens, double fillRatio, TimeSpan duration)
    {
        _batchSize.Record(documents);
        _batchTokens.Record((int)Math.Min(int.MaxValue, paddedTokens));
        _fillRatio.Record(fillRatio);
        _inferenceDuration.Record(duration.TotalSeconds);
    }

    public void MessageSettled(string outcome, TimeSpan duration, string? errorType = null)
    {
        var tags = errorType is null
            ? [new("messaging.operation.name", outcome)]
            : new KeyValuePair<string, object?>[] { new("messaging.operation.name", outcome), new("error.type", errorType) };
        _processDuration.Record(duration.TotalSeconds, tags);
    }

    private IEnumerable<Measurement<int>> ObserveModel()
    {
        var model = Volatile.Read(ref _model);
        if (model is null)
        {
            return [];
        }

        return [new Measurement<int>(1, new KeyValuePair<string, object?>("triage.model.version", model.Version),
            new KeyValuePair<string, object?>("triage.model.method", model.Method), new KeyValuePair<string, object?>("triage.model.device", model.Device))];
    }
}
