using Triage.Classifier.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Triage.Classifier.Pruning;

/// <summary>
/// PTC's token combining module (spec §1.7, Eq. 9–11): m learnable combination tokens that, at layer L_c, each take
/// the mean of the embedded tokens hard-assigned to them by a single-head Gumbel-softmax cross-attention.
/// </summary>
/// <remarks>
/// Readings (spec A7), following GroupViT where the paper is silent: separate LayerNorms for ĉ and ê; the value
/// projection reads the normalised ê as GroupViT does (value = key input); logits scaled by 1/√d; τ = 1 by default;
/// Gumbel noise only in training (eval takes the argmax of the plain logits); one pass, no extra MLPs. Every real
/// embedded token enters the module (reading (a)), pad tokens are assigned to no slot. An empty slot divides by
/// max(count, 1) rather than GroupViT's count + 1, so a non-empty slot gets the exact mean of Eq. 11.
/// </remarks>
public sealed class TokenCombiningModule : nn.Module
{
    private readonly Parameter tokens;
    private readonly LayerNorm norm_tokens;
    private readonly LayerNorm norm_x;
    private readonly Linear query;
    private readonly Linear key;
    private readonly Linear value;
    private readonly Linear output;
    private readonly double _temperature;
    private readonly double _scale;

    /// <param name="hiddenSize">d.</param>
    /// <param name="count">m, the number of combination tokens.</param>
    /// <param name="gumbelTemperature">τ of the Gumbel softmax.</param>
    /// <param name="layerNormEps">The encoder's LayerNorm epsilon.</param>
    public TokenCombiningModule(int hiddenSize, int count, double gumbelTemperature = 1.0, double layerNormEps = 1e-12)
        : base(nameof(TokenCombiningModule))
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(hiddenSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(gumbelTemperature, 0.0);
        Count = count;
        _temperature = gumbelTemperature;
        _scale = 1.0 / Math.Sqrt(hiddenSize);
        // BERT's initialiser (N(0, 0.02), zero bias); WarmStartFrom replaces the projections with a layer's.
        tokens = new Parameter(randn(count, hiddenSize) * 0.02);
        norm_tokens = nn.LayerNorm(hiddenSize, layerNormEps);
        norm_x = nn.LayerNorm(hiddenSize, layerNormEps);
        query = nn.Linear(hiddenSize, hiddenSize);
        key = nn.Linear(hiddenSize, hiddenSize);
        value = nn.Linear(hiddenSize, hiddenSize);
        output = nn.Linear(hiddenSize, hiddenSize);
        using (no_grad())
        {
            foreach (var linear in new[] { query, key, value, output })
            {
                nn.init.normal_(linear.weight!, 0.0, 0.02);
                nn.init.zeros_(linear.bias!);
            }
        }

        RegisterComponents();
    }

    /// <summary>m.</summary>
    public int Count { get; }

    /// <summary>The learnable combination tokens [m, d], appended after the embeddings (no position embeddings, spec A10).</summary>
    public Parameter Tokens => tokens;

    /// <summary>Copies W_q, W_k, W_v, W_o from <paramref name="layer"/>'s self-attention Q/K/V and output projection.</summary>
    public void WarmStartFrom(BertLayer layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var source = layer.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        using var noGrad = no_grad();
        Copy(query, "attention.self.query");
        Copy(key, "attention.self.key");
        Copy(value, "attention.self.value");
        Copy(output, "attention.output.dense");

        void Copy(Linear target, string prefix)
        {
            target.weight!.copy_(source[prefix + ".weight"]);
            target.bias!.copy_(source[prefix + ".bias"]);
        }
    }

    /// <summary>Eq. 9–11: the updated combination tokens.</summary>
    /// <param name="embedded">ê: [B, T, d] states of the embedded tokens.</param>
    /// <param name="combination">ĉ: [B, m, d] states of the combination tokens.</param>
    /// <param name="mask">[B, T] bool, true for real tokens.</param>
    /// <param name="training">Adds Gumbel noise when true.</param>
    /// <returns>[B, m, d].</returns>
    public Tensor Combine(Tensor embedded, Tensor combination, Tensor mask, bool training)
    {
        ArgumentNullException.ThrowIfNull(embedded);
        ArgumentNullException.ThrowIfNull(combination);
        ArgumentNullException.ThrowIfNull(mask);
        using var scope = NewDisposeScope();
        var x = norm_x.call(embedded); // [B, T, d]
        var q = query.call(norm_tokens.call(combination)); // [B, m, d]
        var k = key.call(x); // [B, T, d]
        var v = value.call(x); // [B, T, d]
        var logits = matmul(q, k.transpose(1, 2)) * _scale; // [B, m, T]
        if (training)
        {
            // Gumbel(0, 1) = −log(Exp(1)); torch has no gumbel_softmax in TorchSharp.
            var exponential = empty_like(logits).exponential_().clamp_min(1e-20);
            logits = logits - exponential.log();
        }

        // Normalised over the m slots: tokens compete for slots (Eq. 9).
        var soft = nn.functional.softmax(logits / _temperature, 1); // [B, m, T]
        var winner = soft.argmax(1, keepdim: true); // [B, 1, T]
        var hard = zeros_like(soft).scatter_(1, winner, ones(winner.shape, soft.dtype, soft.device));
        // Straight-through (Eq. 10): forward is the one-hot, backward the softmax's gradient.
        var assignment = hard - soft.detach() + soft;
        assignment = assignment * mask.unsqueeze(1).to(assignment.dtype); // pad tokens join no slot
        var members = assignment.sum(-1, keepdim: true).clamp_min(1.0); // [B, m, 1]
        var pooled = matmul(assignment, v) / members; // [B, m, d]
        return (combination + output.call(pooled)).MoveToOuterDisposeScope(); // residual (Eq. 11)
    }
}
