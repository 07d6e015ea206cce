using Triage.Classifier.Checkpoints;
using Triage.Classifier.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Triage.Classifier.Pretraining;

/// <summary>The MLM head's transform (checkpoint keys <c>cls.predictions.transform.*</c>): dense, GELU, LayerNorm.</summary>
public sealed class PredictionTransform : nn.Module<Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly LayerNorm LayerNorm;

    public PredictionTransform(BertConfig config)
        : base(nameof(PredictionTransform))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return LayerNorm.call(nn.functional.gelu(dense.call(hidden))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// BERT's masked-LM head (<c>cls.predictions.*</c>): transform, then logits against the <b>tied</b> word-embedding
/// matrix plus a per-token bias, as in Hugging Face's BertForMaskedLM.
/// </summary>
public sealed class PredictionHead : nn.Module
{
    private readonly PredictionTransform transform;
    private readonly Parameter bias;

    public PredictionHead(BertConfig config)
        : base(nameof(PredictionHead))
    {
        ArgumentNullException.ThrowIfNull(config);
        transform = new PredictionTransform(config);
        bias = nn.Parameter(zeros(config.VocabSize));
        RegisterComponents();
    }

    /// <param name="hidden">[N, d] states at masked positions.</param>
    /// <param name="wordEmbeddings">[V, d] tied decoder weight.</param>
    /// <returns>[N, V] logits.</returns>
    public Tensor Forward(Tensor hidden, Tensor wordEmbeddings)
    {
        using var scope = NewDisposeScope();
        return (matmul(transform.call(hidden), wordEmbeddings.t()) + bias).MoveToOuterDisposeScope();
    }
}

/// <summary>Holds the head under the HF key path <c>cls.predictions</c>.</summary>
internal sealed class MlmHeads : nn.Module
{
    private readonly PredictionHead predictions;

    public MlmHeads(BertConfig config)
        : base(nameof(MlmHeads))
    {
        predictions = new PredictionHead(config);
        RegisterComponents();
    }

    public PredictionHead Predictions => predictions;
}

/// <summary>Loss and accuracy of one MLM batch.</summary>
public sealed record MlmStep(Tensor Loss, long Correct, long Masked);

/// <summary>BERT + MLM head with keys as Hugging Face's BertForMaskedLM (<c>bert.*</c>, <c>cls.predictions.*</c>).</summary>
public sealed class MaskedLanguageModel : nn.Module
{
    private readonly BertModel bert;
    private readonly MlmHeads cls;
    private readonly DenseStrategy _dense;

    public MaskedLanguageModel(BertConfig config)
        : base(nameof(MaskedLanguageModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        bert = new BertModel(config);
        cls = new MlmHeads(config);
        _dense = new DenseStrategy(config.AttentionProbsDropoutProb);
        RegisterComponents();
    }

    public BertConfig Config { get; }

    public BertModel Bert => bert;

    /// <param name="inputIds">[B, T] with masks applied.</param>
    /// <param name="attentionMask">[B, T] bool.</param>
    /// <param name="labels">[B, T] original ids at masked positions, -100 elsewhere.</param>
    public MlmStep Forward(Tensor inputIds, Tensor attentionMask, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        using var scope = NewDisposeScope();
        using var encoded = bert.Forward(inputIds, attentionMask, null, _dense);
        var selected = labels.ne(-100); // [B, T]
        // Only masked positions go through the vocabulary projection: 15% of the [N, V] cost.
        var hidden = encoded.Hidden[selected]; // [N, d]
        var targets = labels[selected]; // [N]
        var logits = cls.Predictions.Forward(hidden, bert.Embeddings.WordEmbeddingWeight); // [N, V]
        var loss = nn.functional.cross_entropy(logits, targets);
        var correct = logits.argmax(1).eq(targets).sum().item<long>();
        return new MlmStep(loss.MoveToOuterDisposeScope(), correct, targets.shape[0]);
    }
}
