using System.Diagnostics;
using TorchSharp;
using Triage.Classifier.Modeling;
using static TorchSharp.torch;

namespace Triage.Classifier.Pruning;

/// <summary>
/// Profiling aid (not for tests): wall time from one layer output to the next, summed over forward passes, plus the
/// token count each layer produced. Layer -1 (the embeddings) starts the clock. On CUDA the times are only
/// meaningful with synchronisation, which <paramref name="synchronize"/> does after each layer.
/// </summary>
public sealed class LayerTimingObserver(bool synchronize = false) : ILayerObserver
{
    private readonly Dictionary<int, TimeSpan> _elapsed = [];
    private readonly Dictionary<int, long> _tokens = [];
    private long _last;

    /// <summary>Time per layer index (0-based), summed over the observed passes.</summary>
    public IReadOnlyDictionary<int, TimeSpan> Elapsed => _elapsed;

    /// <summary>Sequence length (T') of each layer's last observed output.</summary>
    public IReadOnlyDictionary<int, long> Tokens => _tokens;

    public void OnLayerOutput(int layerIndex, Tensor hidden)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        if (synchronize && hidden.device.type == DeviceType.CUDA)
        {
            cuda.synchronize(hidden.device);
        }

        var now = Stopwatch.GetTimestamp();
        if (layerIndex >= 0)
        {
            _elapsed[layerIndex] = _elapsed.GetValueOrDefault(layerIndex) + Stopwatch.GetElapsedTime(_last, now);
            _tokens[layerIndex] = hidden.shape[1];
        }

        _last = now;
    }

    /// <summary>One line per layer: "layer 3: 12.4 ms, 414 tokens".</summary>
    public override string ToString() => string.Join(Environment.NewLine, _elapsed.OrderBy(e => e.Key)
        .Select(e => $"layer {e.Key + 1}: {e.Value.TotalMilliseconds:F1} ms, {_tokens[e.Key]} tokens"));
}
