using Triage.Classifier.Inference;
using Triage.Worker.Messages;
using Triage.Worker.Queues;

namespace Triage.Worker.Pipeline;

/// <summary>One locked message on its way through the pipeline.</summary>
internal sealed class InFlightDocument(ReceivedMessage message, DateTimeOffset receivedAt, long startTimestamp)
{
    public ReceivedMessage Message { get; } = message;

    public DateTimeOffset ReceivedAt { get; } = receivedAt;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> at receive, for <c>messaging.process.duration</c>.</summary>
    public long StartTimestamp { get; } = startTimestamp;

    /// <summary>When the lock should next be renewed.</summary>
    public DateTimeOffset RenewAt { get; set; }

    public DocumentEnvelope? Envelope { get; set; }

    public PreparedDocument? Prepared { get; set; }

    /// <summary>Set once the message is settled (or its lock is known to be lost), so it is settled only once.</summary>
    public int Settled;
}

/// <summary>What a run did, printed by <c>run --drain</c>.</summary>
internal sealed class RunSummary
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, long> _labels = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _deadLettered = new(StringComparer.Ordinal);

    public ModelInfo? Model { get; set; }

    public long Documents { get; private set; }

    public long InputTokens { get; private set; }

    public double TokensAttended { get; private set; }

    public long Failed { get; private set; }

    public TimeSpan Elapsed { get; set; }

    public IReadOnlyDictionary<string, long> Labels
    {
        get
        {
            lock (_gate)
            {
                return new Dictionary<string, long>(_labels, StringComparer.Ordinal);
            }
        }
    }

    public IReadOnlyDictionary<string, long> DeadLettered
    {
        get
        {
            lock (_gate)
            {
                return new Dictionary<string, long>(_deadLettered, StringComparer.Ordinal);
            }
        }
    }

    public void AddProcessed(string label, int inputTokens, double attended)
    {
        lock (_gate)
        {
            Documents++;
            InputTokens += inputTokens;
            TokensAttended += attended;
            _labels[label] = _labels.GetValueOrDefault(label) + 1;
        }
    }

    public void AddDeadLettered(string reason)
    {
        lock (_gate)
        {
            _deadLettered[reason] = _deadLettered.GetValueOrDefault(reason) + 1;
        }
    }

    public void AddFailed()
    {
        lock (_gate)
        {
            Failed++;
        }
    }

    public string Format()
    {
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        var seconds = Math.Max(Elapsed.TotalSeconds, 1e-9);
        var lines = new List<string>
        {
            string.Create(invariant, $"Processed {Documents} documents in {Elapsed.TotalSeconds:0.0} s ({Documents / seconds:0.0} docs/s)")
                + (Model is null ? string.Empty : $" with model {Model.Version} ({Model.Method}, {Model.Device})"),
            "Labels: " + (Labels.Count == 0 ? "none" : string.Join(", ", Labels.OrderByDescending(l => l.Value).ThenBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key} {l.Value}"))),
            string.Create(invariant, $"Tokens: {InputTokens} in, {TokensAttended:0} attended ({(InputTokens == 0 ? 0 : TokensAttended / InputTokens):P1})"),
        };
        var dead = DeadLettered;
        lines.Add($"Dead-lettered: {dead.Values.Sum()}" + (dead.Count == 0 ? string.Empty : " (" + string.Join(", ", dead.OrderBy(d => d.Key, StringComparer.Ordinal).Select(d => $"{d.Key} {d.Value}")) + ")")
            + $"; failed attempts (abandoned for redelivery): {Failed}");
        return string.Join(Environment.NewLine, lines);
    }
}

/// <summary>Liveness of the worker loop, read by the health file writer.</summary>
internal sealed class WorkerHealth(TimeProvider time)
{
    private long _lastBeatTicks = long.MinValue;

    public bool Running { get; set; }

    public void Beat() => Interlocked.Exchange(ref _lastBeatTicks, time.GetUtcNow().UtcTicks);

    public bool IsHealthy(TimeSpan maxAge)
    {
        var last = Interlocked.Read(ref _lastBeatTicks);
        return Running && last != long.MinValue && time.GetUtcNow().UtcTicks - last <= maxAge.Ticks;
    }
}
