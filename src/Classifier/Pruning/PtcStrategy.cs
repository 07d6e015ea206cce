using Triage.Classifier.Modeling;
using static TorchSharp.torch;

namespace Triage.Classifier.Pruning;

/// <summary>A strategy whose learned parameters can be warm-started from the encoder once its weights are loaded.</summary>
public interface IEncoderWarmStart
{
    /// <summary>
    /// Call after loading a base (non-PTC) checkpoint into the encoder, when the strategy's own keys were left
    /// initialised; not after loading a checkpoint that already holds <c>strategy.*</c>.
    /// </summary>
    void WarmStart(IReadOnlyList<BertLayer> layers);
}

/// <summary>Options of the PTC family (ptc-p, ptc-pf, ptc-c, ptc-pfc).</summary>
/// <param name="Method">The triage.json name.</param>
/// <param name="KeepRatio">p for K/V pruning, or null for no pruning (ptc-c).</param>
/// <param name="Fuzzy">The fuzzy decision rule, or null for plain ratio pruning (ptc-p).</param>
/// <param name="PerHead">Each head keeps its own keys (gather [B, H, t, dh]); false shares one set (head-averaged scores).</param>
/// <param name="CombinationTokens">m, or 0 for no combining module.</param>
/// <param name="CombineLayer">L_c, 1-based: the layer the combining module replaces (ignored without combining).</param>
/// <param name="GumbelTemperature">τ of the combining module.</param>
/// <param name="WarmStartFromLayer">Whether <see cref="IEncoderWarmStart.WarmStart"/> copies the replaced layer's Q/K/V/O.</param>
public sealed record PtcOptions(
    string Method,
    double? KeepRatio,
    FuzzyRule? Fuzzy,
    bool PerHead,
    int CombinationTokens,
    int CombineLayer,
    double GumbelTemperature = 1.0,
    bool WarmStartFromLayer = true)
{
    public bool Combines => CombinationTokens > 0;
}

/// <summary>
/// "Focus on the Core" (PTC): progressive K/V pruning by attention received (queries never pruned), optionally
/// fuzzy, optionally followed by a token combining module that replaces layer L_c, after which the remaining layers
/// run on the m combination tokens only.
/// </summary>
/// <remarks>
/// Readings of the spec's ambiguity register: A1 scale 1/√d_h; A2 importance = attention received averaged over
/// real query rows plus combination-token rows (pad rows excluded, divided by that count), taken before dropout;
/// A3 per-row real length (⌊t·p⌋ of each row's own kept count, so a 512-token row keeps 512, 460, 414, … while a
/// shorter one in the same batch follows its own schedule), quantiles over real kept keys, b − a &lt; ε → ratio;
/// A4 rule R1; A5 per-head selection by default (<see cref="PtcOptions.PerHead"/>), shared as the alternative;
/// A6 quantiles per sample and layer, pooled over heads (in shared mode over the head-averaged scores); A7 see
/// <see cref="TokenCombiningModule"/>. ⌊t·p⌋ applies to the embedded tokens; combination tokens are kept on top and
/// never pruned. Each row keeps at least one real key. Selection is hard and identical in training and inference.
/// KeysAttended reports, per row, the mean over heads of the keys attended (combination tokens included); the
/// combining layer reports the real tokens it pooled, the layers after it m.
/// </remarks>
public sealed class PtcStrategy : EncoderStrategy, IEncoderWarmStart
{
    private readonly TokenCombiningModule? combining;
    private readonly double _attentionDropout;

    public PtcStrategy(PtcOptions options, int hiddenSize, double attentionDropout = 0.1, double layerNormEps = 1e-12)
        : base(nameof(PtcStrategy))
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        _attentionDropout = attentionDropout;
        if (options.Combines)
        {
            combining = new TokenCombiningModule(hiddenSize, options.CombinationTokens, options.GumbelTemperature, layerNormEps);
        }

        RegisterComponents();
    }

    public PtcOptions Options { get; }

    public override string Method => Options.Method;

    /// <summary>The combining module, or null for ptc-p / ptc-pf.</summary>
    public TokenCombiningModule? Combining => combining;

    /// <summary>Test and analysis hook: sees each layer's kept keys (layer index, positions [B, Hs, t], valid [B, Hs, t]).</summary>
    internal Action<int, Tensor, Tensor>? KeptKeysObserver { get; set; }

    public void WarmStart(IReadOnlyList<BertLayer> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (combining is not null && Options.WarmStartFromLayer)
        {
            combining.WarmStartFrom(layers[Options.CombineLayer - 1]);
        }
    }

    public override EncoderOutput Run(IReadOnlyList<BertLayer> layers, Tensor hidden, Tensor mask, ILayerObserver? observer)
    {
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(mask);
        if (combining is not null && Options.CombineLayer > layers.Count)
        {
            throw new InvalidOperationException($"combineLayer {Options.CombineLayer} is beyond the encoder's {layers.Count} layers.");
        }

        using var scope = NewDisposeScope();
        var training = layers.Count > 0 && layers[0].training;
        var dropout = training ? _attentionDropout : 0.0;
        var (batch, length) = (hidden.shape[0], hidden.shape[1]);
        var device = hidden.device;
        var m = combining?.Count ?? 0;

        // [E; C]: combination tokens after the embeddings; the sequence is T + m long, every row the same layout.
        var x = m > 0 ? cat([hidden, combining!.Tokens.unsqueeze(0).expand(batch, -1, -1).to(hidden.dtype)], 1) : hidden; // [B, T', d]
        var queries = m > 0 ? cat([mask, ones(batch, m, ScalarType.Bool, device)], 1) : mask; // [B, T']
        var total = length + m;
        var queryWeights = (queries.to(hidden.dtype) / queries.sum(1, keepdim: true, type: hidden.dtype)).view(batch, 1, 1, total);
        var headSets = Options.PerHead && layers.Count > 0 ? layers[0].Attention.Self.Heads : 1;
        var positions = arange(total, dtype: ScalarType.Int64, device: device);
        KeptKeys kept = new(positions.view(1, 1, total).expand(batch, headSets, total), queries.unsqueeze(1).expand(batch, headSets, total));
        var alwaysKeptAt = positions.ge(length); // combination tokens, by position

        // Layers that attend over the full sequence: all of them, or those before the combining module.
        var sequenceLayers = combining is null ? layers.Count : Options.CombineLayer - 1;
        var attended = new List<Tensor>(layers.Count);
        Tensor? finalMask = null;
        for (var i = 0; i < layers.Count; i++)
        {
            using var layerScope = NewDisposeScope();
            Tensor next;
            if (i < sequenceLayers)
            {
                var pruning = Options.KeepRatio is not null;
                var scoreForNext = pruning && i + 1 < sequenceLayers;
                KeptKeysObserver?.Invoke(i, kept.Index, kept.Valid);
                var kernel = new ScoringAttentionKernel(i == 0 ? null : kept.Index, kept.Valid, scoreForNext ? queryWeights : null, dropout);
                attended.Add(kept.Valid.sum(-1, type: ScalarType.Float32).mean([1]).MoveToOuterDisposeScope()); // [B]
                next = layers[i].Forward(x, kernel);
                if (scoreForNext)
                {
                    using var perHead = kernel.TakeScores(); // [B, H, t]
                    using var scores = Options.PerHead ? perHead.alias() : perHead.mean([1], keepdim: true);
                    var always = alwaysKeptAt.gather(0, kept.Index.flatten()).view_as(kept.Index);
                    var selected = KeySelection.Select(scores, kept, always, Options.KeepRatio!.Value, Options.Fuzzy).MoveToOuterDisposeScope();
                    kept = selected;
                }
            }
            else if (i == sequenceLayers)
            {
                next = combining!.Combine(x.narrow(1, 0, length), x.narrow(1, length, m), mask, training); // [B, m, d]
                attended.Add(mask.sum(1, type: ScalarType.Float32).MoveToOuterDisposeScope());
            }
            else
            {
                finalMask ??= ones(batch, 1, 1, m, ScalarType.Bool, device).MoveToOuterDisposeScope();
                next = layers[i].Forward(x, new MaskedSdpaKernel(finalMask, dropout));
                attended.Add(full([batch], (float)m, dtype: ScalarType.Float32, device: device).MoveToOuterDisposeScope());
            }

            next.MoveToOuterDisposeScope();
            observer?.OnLayerOutput(i, next);
            if (!ReferenceEquals(x, hidden))
            {
                x.Dispose(); // peak memory is one layer, not the stack
            }

            x = next;
        }

        var keys = attended.Count > 0 ? stack(attended, 1) : zeros(batch, 0, ScalarType.Float32, device); // [B, L]
        if (combining is not null)
        {
            return new EncoderOutput(x, ones(batch, m, ScalarType.Bool, device), keys).MoveToOuterDisposeScope();
        }

        // Queries were never pruned: every real token has a final state.
        var output = ReferenceEquals(x, hidden) ? x.alias() : x;
        return new EncoderOutput(output, mask.alias(), keys).MoveToOuterDisposeScope();
    }
}
