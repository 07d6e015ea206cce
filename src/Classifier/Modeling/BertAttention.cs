using Triage.Classifier.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Triage.Classifier.Modeling;

/// <summary>
/// How one layer's queries meet its keys and values. The dense encoder uses masked scaled-dot-product attention;
/// the pruning strategies supply kernels that attend to a subset of keys and record importance scores.
/// </summary>
public interface IAttentionKernel
{
    /// <param name="query">[B, H, Tq, dh].</param>
    /// <param name="key">[B, H, Tk, dh].</param>
    /// <param name="value">[B, H, Tk, dh].</param>
    /// <returns>Context vectors [B, H, Tq, dh].</returns>
    Tensor Attend(Tensor query, Tensor key, Tensor value);
}

/// <summary>The Q/K/V projections (checkpoint keys <c>attention.self.*</c>).</summary>
public sealed class BertSelfAttention : nn.Module
{
    private readonly Linear query;
    private readonly Linear key;
    private readonly Linear value;
    private readonly int _heads;
    private readonly int _headSize;

    public BertSelfAttention(BertConfig config)
        : base(nameof(BertSelfAttention))
    {
        ArgumentNullException.ThrowIfNull(config);
        _heads = config.NumAttentionHeads;
        _headSize = config.HeadSize;
        query = nn.Linear(config.HiddenSize, config.HiddenSize);
        key = nn.Linear(config.HiddenSize, config.HiddenSize);
        value = nn.Linear(config.HiddenSize, config.HiddenSize);
        RegisterComponents();
    }

    public int Heads => _heads;

    /// <param name="hidden">[B, T, d].</param>
    /// <returns>Context [B, T, d] after the kernel, heads merged.</returns>
    public Tensor Forward(Tensor hidden, IAttentionKernel kernel)
    {
        using var scope = NewDisposeScope();
        var q = SplitHeads(query.call(hidden)); // [B, H, T, dh]
        var k = SplitHeads(key.call(hidden));
        var v = SplitHeads(value.call(hidden));
        var context = kernel.Attend(q, k, v); // [B, H, T, dh]
        var (b, _, t, _) = (context.shape[0], context.shape[1], context.shape[2], context.shape[3]);
        return context.transpose(1, 2).reshape(b, t, _heads * _headSize).MoveToOuterDisposeScope();
    }

    private Tensor SplitHeads(Tensor x)
    {
        var (b, t) = (x.shape[0], x.shape[1]);
        return x.view(b, t, _heads, _headSize).transpose(1, 2);
    }
}

/// <summary>Attention output projection, dropout, residual and LayerNorm (checkpoint keys <c>attention.output.*</c>).</summary>
public sealed class BertSelfOutput : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly LayerNorm LayerNorm;
    private readonly Dropout dropout;

    public BertSelfOutput(BertConfig config)
        : base(nameof(BertSelfOutput))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        RegisterComponents();
    }

    /// <param name="context">[B, T, d].</param>
    /// <param name="residual">[B, T, d].</param>
    public override Tensor forward(Tensor context, Tensor residual)
    {
        using var scope = NewDisposeScope();
        return LayerNorm.call(dropout.call(dense.call(context)) + residual).MoveToOuterDisposeScope();
    }
}

/// <summary>Self-attention plus its output block (checkpoint keys <c>attention.*</c>).</summary>
public sealed class BertAttention : nn.Module
{
    private readonly BertSelfAttention self;
    private readonly BertSelfOutput output;

    public BertAttention(BertConfig config)
        : base(nameof(BertAttention))
    {
        self = new BertSelfAttention(config);
        output = new BertSelfOutput(config);
        RegisterComponents();
    }

    public BertSelfAttention Self => self;

    /// <param name="hidden">[B, T, d].</param>
    /// <returns>[B, T, d].</returns>
    public Tensor Forward(Tensor hidden, IAttentionKernel kernel)
    {
        using var scope = NewDisposeScope();
        return output.call(self.Forward(hidden, kernel), hidden).MoveToOuterDisposeScope();
    }
}
