using Triage.Classifier.Checkpoints;
using Triage.Classifier.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Triage.Classifier.Pruning;

/// <summary>LTP's two training stages; inference (eval mode) always runs the hard stage.</summary>
public enum LtpStage
{
    /// <summary>Training stage 1: soft mask σ((s − θ)/T) on each layer's output, thresholds learn with the λ regulariser.</summary>
    Soft,

    /// <summary>Tokens with s &lt; θ are dropped from the hidden state (gather); thresholds are fixed.</summary>
    Hard,
}

/// <param name="FinalThreshold">θ of the last layer at initialisation; layer l (0-based) starts at FinalThreshold·l/L.</param>
/// <param name="Temperature">T of the soft mask.</param>
/// <param name="Lambda">λ of the regulariser.</param>
public sealed record LtpOptions(double FinalThreshold, double Temperature, double Lambda = 0.1)
{
    /// <summary>
    /// LTP's defaults (0.01, 1e-3) are for scores divided by 128 padded rows; ours divide by the real rows, so a
    /// document of the model's full length has 128/max_position_embeddings of LTP's score scale. The defaults are
    /// rescaled by that factor (0.0025 and 2.5e-4 for 512 positions).
    /// </summary>
    public static LtpOptions For(BertConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var scale = 128.0 / config.MaxPositionEmbeddings;
        return new LtpOptions(0.01 * scale, 1e-3 * scale);
    }
}

/// <summary>
/// Learned Token Pruning: one learnable threshold per layer; a token whose importance (attention received, averaged
/// over heads and real query rows) falls below it is masked softly in training stage 1 and physically dropped
/// afterwards, so later layers run on fewer tokens.
/// </summary>
/// <remarks>
/// Readings: scores are normalised by the real (kept) query count, not LTP's padded 128 (see <see cref="LtpOptions.For"/>);
/// scores are taken before attention dropout and keep their gradient in the soft stage, as in LTP's code; the first
/// layer never prunes (LTP's θ = 0 there), so its threshold entry is inert; [CLS] (position 0) is never dropped, in
/// either stage; the decision of layer l is made after its attention, so layer l's feed-forward already runs on the
/// kept tokens (kept tokens' states are the same as dropping after the layer; LTP's FLOPs count does the same);
/// the regulariser is λ · mean over the pruning layers of the soft mask's mean over real tokens (LTP's code sums
/// over layers and averages over padded positions). KeysAttended reports the tokens entering each layer.
/// </remarks>
public sealed class LtpStrategy : EncoderStrategy
{
    private readonly Parameter thresholds;
    private readonly double _attentionDropout;
    private Tensor? _regularization;

    public LtpStrategy(LtpOptions options, int layers, double attentionDropout = 0.1)
        : base(nameof(LtpStrategy))
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(layers, 1);
        _attentionDropout = attentionDropout;
        var initial = Enumerable.Range(0, layers).Select(l => (float)(options.FinalThreshold * l / layers)).ToArray();
        thresholds = new Parameter(tensor(initial));
        RegisterComponents();
    }

    public LtpOptions Options { get; }

    public override string Method => PruningMethods.Ltp;

    /// <summary>θ per layer [L] (key <c>strategy.thresholds</c>); put them in their own optimizer group with weight decay 0.</summary>
    public Parameter Thresholds => thresholds;

    /// <summary>Which stage a training-mode forward runs; eval mode is always hard.</summary>
    public LtpStage Stage { get; set; } = LtpStage.Soft;

    /// <summary>
    /// λ · regulariser of the last soft-stage forward (a scalar in the autograd graph, to add to the task loss), or
    /// null if none ran since the last take. The caller owns and disposes it.
    /// </summary>
    public Tensor? TakeRegularizationLoss()
    {
        var loss = _regularization;
        _regularization = null;
        return loss;
    }

    /// <summary>Test and analysis hook: after each layer, the original positions [B, K] of its kept tokens and their mask.</summary>
    internal Action<int, Tensor, Tensor>? KeptTokensObserver { get; set; }

    public override EncoderOutput Run(IReadOnlyList<BertLayer> layers, Tensor hidden, Tensor mask, ILayerObserver? observer)
    {
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(mask);
        if (layers.Count > thresholds.shape[0])
        {
            throw new InvalidOperationException($"LTP has {thresholds.shape[0]} thresholds but the encoder has {layers.Count} layers.");
        }

        using var scope = NewDisposeScope();
        var training = layers.Count > 0 && layers[0].training;
        var soft = training && Stage == LtpStage.Soft;
        var dropout = training ? _attentionDropout : 0.0;
        var (batch, length) = (hidden.shape[0], hidden.shape[1]);
        var device = hidden.device;
        var x = hidden;
        var current = mask; // [B, T'] real (kept) tokens
        var positions = arange(length, dtype: ScalarType.Int64, device: device).unsqueeze(0).expand(batch, length); // [B, T']
        var attended = new List<Tensor>(layers.Count);
        var softMeans = new List<Tensor>(layers.Count);
        for (var i = 0; i < layers.Count; i++)
        {
            using var layerScope = NewDisposeScope();
            attended.Add(current.sum(1, type: ScalarType.Float32).MoveToOuterDisposeScope());
            var prune = i > 0;
            var width = x.shape[1];
            var queryWeights = prune
                ? (current.to(x.dtype) / current.sum(1, keepdim: true, type: x.dtype)).view(batch, 1, 1, width)
                : null;
            var kernel = new ScoringAttentionKernel(null, current.unsqueeze(1), queryWeights, dropout, scoresWithGradient: soft);
            var state = layers[i].Attention.Forward(x, kernel); // [B, T', d]
            Tensor next;
            if (!prune)
            {
                next = FeedForward(layers[i], state);
            }
            else
            {
                using var perHead = kernel.TakeScores(); // [B, H, T']
                var scores = perHead.mean([1]); // [B, T']
                var isCls = positions.eq(0);
                if (soft)
                {
                    var keep = sigmoid((scores - thresholds[i]) / Options.Temperature);
                    keep = where(isCls, ones_like(keep), keep); // [CLS] is never dropped
                    next = FeedForward(layers[i], state) * keep.unsqueeze(-1);
                    var real = current.to(keep.dtype);
                    softMeans.Add(((keep * real).sum() / real.sum()).MoveToOuterDisposeScope());
                }
                else
                {
                    (state, current, positions) = DropBelowThreshold(state, current, positions, scores, isCls, i);
                    current.MoveToOuterDisposeScope();
                    positions.MoveToOuterDisposeScope();
                    next = FeedForward(layers[i], state);
                }
            }

            next.MoveToOuterDisposeScope();
            KeptTokensObserver?.Invoke(i, positions, current);
            observer?.OnLayerOutput(i, next);
            if (!ReferenceEquals(x, hidden))
            {
                x.Dispose();
            }

            x = next;
        }

        if (soft && softMeans.Count > 0)
        {
            _regularization?.Dispose();
            _regularization = (stack(softMeans).mean() * Options.Lambda).DetachFromDisposeScope();
        }

        var keys = attended.Count > 0 ? stack(attended, 1) : zeros(batch, 0, ScalarType.Float32, device); // [B, L]
        var output = ReferenceEquals(x, hidden) ? x.alias() : x;
        return new EncoderOutput(output, ReferenceEquals(current, mask) ? mask.alias() : current, keys).MoveToOuterDisposeScope();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _regularization?.Dispose();
            _regularization = null;
        }

        base.Dispose(disposing);
    }

    /// <summary>Gathers the tokens with s ≥ θ (and [CLS]) to the front, in order; rows pad to the batch's max kept count.</summary>
    private (Tensor State, Tensor Mask, Tensor Positions) DropBelowThreshold(Tensor state, Tensor current, Tensor positions, Tensor scores, Tensor isCls, int layer)
    {
        using var noGrad = no_grad();
        var threshold = Math.Max(1e-5, thresholds[layer].item<float>()); // LTP's floor
        var keep = current.logical_and(scores.ge(threshold).logical_or(isCls));
        var counts = keep.sum(1); // [B]
        var width = counts.max().item<long>();
        var slots = state.shape[1];
        if (width == slots && keep.eq(current).all().item<bool>())
        {
            return (state, current, positions);
        }

        // Kept tokens first in their original order: sort by slot, dropped ones pushed past the end.
        var slot = arange(slots, dtype: ScalarType.Int64, device: state.device).unsqueeze(0);
        var order = where(keep, slot, slot + slots).sort(-1).Values.narrow(1, 0, width) % slots; // [B, K]
        var newMask = arange(width, dtype: ScalarType.Int64, device: state.device).unsqueeze(0).lt(counts.unsqueeze(1));
        var gathered = state.gather(1, order.unsqueeze(-1).expand(-1, -1, state.shape[2]));
        return (gathered, newMask, positions.gather(1, order));
    }

    private static Tensor FeedForward(BertLayer layer, Tensor attended)
    {
        // BertLayer.Forward is attention then this; the parts are reached by their checkpoint names so that the
        // feed-forward can run on the kept tokens only.
        var children = layer.named_children().ToDictionary(c => c.name, c => c.module, StringComparer.Ordinal);
        var intermediate = (BertIntermediate)children["intermediate"];
        var output = (BertOutput)children["output"];
        return output.call(intermediate.call(attended), attended);
    }
}
