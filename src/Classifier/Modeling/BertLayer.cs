using Triage.Classifier.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Triage.Classifier.Modeling;

/// <summary>The feed-forward expansion with the configured activation (checkpoint keys <c>intermediate.*</c>).</summary>
public sealed class BertIntermediate : nn.Module<Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly string _activation;

    public BertIntermediate(BertConfig config)
        : base(nameof(BertIntermediate))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.HiddenSize, config.IntermediateSize);
        _activation = config.HiddenAct;
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var x = dense.call(hidden);
        var activated = _activation switch
        {
            "gelu" => nn.functional.gelu(x), // exact erf form, as BERT
            "relu" => nn.functional.relu(x),
            // The tanh approximation used by gelu_new / gelu_pytorch_tanh checkpoints.
            _ => 0.5 * x * (1.0 + tanh(Math.Sqrt(2.0 / Math.PI) * (x + 0.044715 * pow(x, 3)))),
        };
        return activated.MoveToOuterDisposeScope();
    }
}

/// <summary>Feed-forward contraction, dropout, residual and LayerNorm (checkpoint keys <c>output.*</c>).</summary>
public sealed class BertOutput : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly LayerNorm LayerNorm;
    private readonly Dropout dropout;

    public BertOutput(BertConfig config)
        : base(nameof(BertOutput))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.IntermediateSize, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        RegisterComponents();
    }

    public override Tensor forward(Tensor intermediate, Tensor residual)
    {
        using var scope = NewDisposeScope();
        return LayerNorm.call(dropout.call(dense.call(intermediate)) + residual).MoveToOuterDisposeScope();
    }
}

/// <summary>One post-LN transformer block (checkpoint keys <c>encoder.layer.{i}.*</c>).</summary>
public sealed class BertLayer : nn.Module
{
    private readonly BertAttention attention;
    private readonly BertIntermediate intermediate;
    private readonly BertOutput output;

    public BertLayer(BertConfig config)
        : base(nameof(BertLayer))
    {
        attention = new BertAttention(config);
        intermediate = new BertIntermediate(config);
        output = new BertOutput(config);
        RegisterComponents();
    }

    public BertAttention Attention => attention;

    /// <param name="hidden">[B, T, d].</param>
    /// <param name="kernel">How queries attend to keys in this layer.</param>
    /// <returns>[B, T, d].</returns>
    public Tensor Forward(Tensor hidden, IAttentionKernel kernel)
    {
        using var scope = NewDisposeScope();
        var attended = attention.Forward(hidden, kernel);
        return output.call(intermediate.call(attended), attended).MoveToOuterDisposeScope();
    }
}
