using static TorchSharp.torch;

namespace Triage.Classifier.Modeling;

/// <summary>
/// Runs the layer stack. The dense baseline and the pruning methods (PTC, LTP) are interchangeable strategies, so the
/// BERT layer reads the same for all and an ablation is a configuration change. A strategy is a module because some
/// methods learn parameters (combination tokens, thresholds); those are saved under the strategy's key prefix.
/// </summary>
public abstract class EncoderStrategy : nn.Module
{
    protected EncoderStrategy(string name)
        : base(name)
    {
    }

    /// <summary>Method name as written in triage.json (dense, ptc-p, …).</summary>
    public abstract string Method { get; }

    /// <param name="layers">The encoder's blocks, in order.</param>
    /// <param name="hidden">Embedding output [B, T, d].</param>
    /// <param name="mask">[B, T] bool, true for real tokens.</param>
    /// <param name="observer">Optional observer of each layer's output.</param>
    public abstract EncoderOutput Run(IReadOnlyList<BertLayer> layers, Tensor hidden, Tensor mask, ILayerObserver? observer);
}

/// <summary>What the encoder hands to pooling, plus what it cost.</summary>
/// <param name="Hidden">Final token states [B, T', d] (T' may be smaller than T after pruning or combining).</param>
/// <param name="Mask">[B, T'] bool, true for tokens that pooling should use.</param>
/// <param name="KeysAttended">[B, L] float: how many key tokens each layer attended to, per row.</param>
public sealed record EncoderOutput(Tensor Hidden, Tensor Mask, Tensor KeysAttended) : IDisposable
{
    public EncoderOutput MoveToOuterDisposeScope()
    {
        Hidden.MoveToOuterDisposeScope();
        Mask.MoveToOuterDisposeScope();
        KeysAttended.MoveToOuterDisposeScope();
        return this;
    }

    public void Dispose()
    {
        Hidden.Dispose();
        Mask.Dispose();
        KeysAttended.Dispose();
    }
}

/// <summary>Masked scaled-dot-product attention over all real keys: the dense baseline's kernel.</summary>
public sealed class MaskedSdpaKernel : IAttentionKernel
{
    private readonly Tensor _keyMask;
    private readonly double _dropout;

    /// <param name="keyMask">[B, 1, 1, Tk] bool, true for keys that may be attended to.</param>
    /// <param name="dropout">Attention-probability dropout (training only).</param>
    public MaskedSdpaKernel(Tensor keyMask, double dropout)
    {
        _keyMask = keyMask;
        _dropout = dropout;
    }

    public Tensor Attend(Tensor query, Tensor key, Tensor value) =>
        nn.functional.scaled_dot_product_attention(query, key, value, _keyMask, _dropout);
}

/// <summary>The baseline: every layer attends to every real token.</summary>
public sealed class DenseStrategy : EncoderStrategy
{
    private readonly double _attentionDropout;

    public DenseStrategy(double attentionDropout = 0.1)
        : base(nameof(DenseStrategy))
    {
        _attentionDropout = attentionDropout;
    }

    public override string Method => "dense";

    public override EncoderOutput Run(IReadOnlyList<BertLayer> layers, Tensor hidden, Tensor mask, ILayerObserver? observer)
    {
        ArgumentNullException.ThrowIfNull(layers);
        using var scope = NewDisposeScope();
        // The layers' mode decides dropout, so a strategy needs no train/eval switch of its own.
        var kernel = new MaskedSdpaKernel(mask.unsqueeze(1).unsqueeze(2), layers.Count > 0 && layers[0].training ? _attentionDropout : 0.0);
        var x = hidden;
        for (var i = 0; i < layers.Count; i++)
        {
            var next = layers[i].Forward(x, kernel);
            observer?.OnLayerOutput(i, next);
            if (!ReferenceEquals(x, hidden))
            {
                // Free each layer's input as soon as the next exists: peak memory is one layer, not the stack.
                x.Dispose();
            }

            x = next;
        }

        var realTokens = mask.sum(1, keepdim: true, type: ScalarType.Float32); // [B, 1]
        var attended = realTokens.expand(-1, layers.Count).contiguous(); // [B, L]
        return new EncoderOutput(x, mask.alias(), attended).MoveToOuterDisposeScope();
    }
}
