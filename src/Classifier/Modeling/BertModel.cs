using Triage.Classifier.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Triage.Classifier.Modeling;

/// <summary>The stack of transformer blocks (checkpoint keys <c>encoder.layer.{i}.*</c>).</summary>
public sealed class BertEncoder : nn.Module
{
    private readonly ModuleList<BertLayer> layer;
    private readonly BertLayer[] _layers;

    public BertEncoder(BertConfig config)
        : base(nameof(BertEncoder))
    {
        ArgumentNullException.ThrowIfNull(config);
        _layers = Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new BertLayer(config)).ToArray();
        layer = new ModuleList<BertLayer>(_layers);
        RegisterComponents();
    }

    public IReadOnlyList<BertLayer> Layers => _layers;
}

/// <summary>BERT's CLS pooler: dense + tanh on the first token (checkpoint keys <c>pooler.dense.*</c>).</summary>
public sealed class BertPooler : nn.Module<Tensor, Tensor>
{
    private readonly Linear dense;

    public BertPooler(BertConfig config)
        : base(nameof(BertPooler))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        RegisterComponents();
    }

    /// <param name="hidden">[B, T, d].</param>
    /// <returns>[B, d].</returns>
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return tanh(dense.call(hidden.select(1, 0))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The BERT encoder as Hugging Face's <c>BertModel</c>: embeddings, encoder and an optional pooler, with module
/// names that equal the checkpoint keys, so loading is a lookup.
/// </summary>
public sealed class BertModel : nn.Module
{
    private readonly BertEmbeddings embeddings;
    private readonly BertEncoder encoder;
    private readonly BertPooler? pooler;

    public BertModel(BertConfig config, bool withPooler = false)
        : base(nameof(BertModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        embeddings = new BertEmbeddings(config);
        encoder = new BertEncoder(config);
        if (withPooler)
        {
            pooler = new BertPooler(config);
        }

        RegisterComponents();
    }

    public BertConfig Config { get; }

    public BertEmbeddings Embeddings => embeddings;

    public IReadOnlyList<BertLayer> Layers => encoder.Layers;

    public BertPooler? Pooler => pooler;

    /// <summary>Runs embeddings and the encoder through <paramref name="strategy"/>.</summary>
    /// <param name="inputIds">[B, T] int64.</param>
    /// <param name="attentionMask">[B, T] bool or 0/1; true marks real tokens.</param>
    /// <param name="tokenTypeIds">[B, T] int64, or null for all zeros.</param>
    /// <param name="strategy">Dense or a pruning strategy.</param>
    /// <param name="observer">Optional: sees the embedding output (layer -1) and each layer's output.</param>
    public EncoderOutput Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds, EncoderStrategy strategy, ILayerObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        ArgumentNullException.ThrowIfNull(attentionMask);
        ArgumentNullException.ThrowIfNull(strategy);
        using var scope = NewDisposeScope();
        var types = tokenTypeIds ?? zeros_like(inputIds);
        var hidden = embeddings.call(inputIds, types); // [B, T, d]
        observer?.OnLayerOutput(-1, hidden);
        var mask = attentionMask.to(ScalarType.Bool);
        var result = strategy.Run(encoder.Layers, hidden, mask, observer);
        return result.MoveToOuterDisposeScope();
    }
}

/// <summary>Receives intermediate hidden states (for parity checks and analysis); -1 is the embedding output.</summary>
public interface ILayerObserver
{
    void OnLayerOutput(int layerIndex, Tensor hidden);
}
