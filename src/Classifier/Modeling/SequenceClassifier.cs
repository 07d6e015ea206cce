using Triage.Classifier.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Triage.Classifier.Modeling;

/// <summary>How the final token states become one document vector.</summary>
public enum Pooling
{
    /// <summary>Mean of the final states over real tokens ([CLS]/[SEP] included); the PTC paper's choice.</summary>
    Mean,

    /// <summary>The final state of the first token ([CLS]).</summary>
    Cls,

    /// <summary>BERT's pooler (dense + tanh) on [CLS]; needs <c>pooler.*</c> weights.</summary>
    Pooler,
}

/// <summary>Logits and what the forward pass cost.</summary>
/// <param name="Logits">[B, C].</param>
/// <param name="KeysAttended">[B, L] keys attended per layer per row.</param>
public sealed record ClassifierOutput(Tensor Logits, Tensor KeysAttended) : IDisposable
{
    public void Dispose()
    {
        Logits.Dispose();
        KeysAttended.Dispose();
    }
}

/// <summary>
/// BERT + strategy + pooling + a linear head. Keys are those of Hugging Face's BertForSequenceClassification
/// (<c>bert.*</c>, <c>classifier.*</c>); a strategy's learned parameters live under <c>strategy.*</c>.
/// </summary>
public sealed class SequenceClassifier : nn.Module
{
    private readonly BertModel bert;
    private readonly EncoderStrategy strategy;
    private readonly Dropout dropout;
    private readonly Linear classifier;

    public SequenceClassifier(BertConfig config, int labelCount, Pooling pooling, EncoderStrategy strategy)
        : base(nameof(SequenceClassifier))
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(labelCount, 1);
        Pooling = pooling;
        bert = new BertModel(config, withPooler: pooling == Pooling.Pooler);
        this.strategy = strategy ?? throw new ArgumentNullException(nameof(strategy));
        dropout = nn.Dropout(config.HiddenDropoutProb);
        classifier = nn.Linear(config.HiddenSize, labelCount);
        RegisterComponents();
    }

    public Pooling Pooling { get; }

    public BertModel Bert => bert;

    public EncoderStrategy Strategy => strategy;

    /// <param name="inputIds">[B, T] int64.</param>
    /// <param name="attentionMask">[B, T] bool/0-1.</param>
    /// <param name="observer">Optional: sees the embeddings and each layer's output (profiling).</param>
    public ClassifierOutput Forward(Tensor inputIds, Tensor attentionMask, ILayerObserver? observer = null)
    {
        using var scope = NewDisposeScope();
        using var encoded = bert.Forward(inputIds, attentionMask, null, strategy, observer);
        var pooled = Pool(encoded); // [B, d]
        var logits = classifier.call(dropout.call(pooled)); // [B, C]
        return new ClassifierOutput(logits.MoveToOuterDisposeScope(), encoded.KeysAttended.alias().MoveToOuterDisposeScope());
    }

    /// <summary>Mean of <paramref name="hidden"/> [B, T, d] over <paramref name="mask"/> [B, T].</summary>
    public static Tensor MaskedMean(Tensor hidden, Tensor mask)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(mask);
        using var scope = NewDisposeScope();
        var weights = mask.to(hidden.dtype).unsqueeze(-1); // [B, T, 1]
        var sum = (hidden * weights).sum(1); // [B, d]
        var count = weights.sum(1).clamp_min(1.0); // [B, 1]
        return (sum / count).MoveToOuterDisposeScope();
    }

    private Tensor Pool(EncoderOutput encoded) => Pooling switch
    {
        Pooling.Mean => MaskedMean(encoded.Hidden, encoded.Mask),
        Pooling.Cls => encoded.Hidden.select(1, 0),
        Pooling.Pooler => bert.Pooler!.call(encoded.Hidden),
        _ => throw new InvalidOperationException($"Unknown pooling {Pooling}."),
    };
}
