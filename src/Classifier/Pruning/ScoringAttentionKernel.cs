using Triage.Classifier.Modeling;
using static TorchSharp.torch;

namespace Triage.Classifier.Pruning;

/// <summary>
/// Attention over a per-row (optionally per-head) subset of keys, which can also report how much attention each
/// kept key received. Queries are never pruned here: every query row attends to the kept keys.
/// </summary>
/// <remarks>
/// Scores are taken from the attention probabilities <em>before</em> dropout (PTC spec §1.3 recommendation; LTP's
/// code takes them after dropout, which only matters in training and would make the soft mask noisier).
/// </remarks>
internal sealed class ScoringAttentionKernel : IAttentionKernel
{
    private readonly Tensor? _keyIndex;
    private readonly Tensor _keyValid;
    private readonly Tensor? _queryWeights;
    private readonly double _dropout;
    private readonly bool _scoresWithGradient;
    private Tensor? _scores;

    /// <param name="keyIndex">[B, Hs, t] int64 positions of the kept keys (Hs = 1 shares one set across heads), or null for all keys.</param>
    /// <param name="keyValid">[B, Hs, t] bool: which slots of <paramref name="keyIndex"/> (or which positions) are real keys.</param>
    /// <param name="queryWeights">[B, 1, 1, Tq]: 1/count on the query rows that count for the importance score, 0 elsewhere; null to skip scoring (then the fused SDPA path runs).</param>
    /// <param name="dropout">Attention dropout probability (0 in eval).</param>
    /// <param name="scoresWithGradient">Keep the scores in the autograd graph (LTP's soft mask); otherwise they are computed under no_grad.</param>
    public ScoringAttentionKernel(Tensor? keyIndex, Tensor keyValid, Tensor? queryWeights, double dropout, bool scoresWithGradient = false)
    {
        _keyIndex = keyIndex;
        _keyValid = keyValid;
        _queryWeights = queryWeights;
        _dropout = dropout;
        _scoresWithGradient = scoresWithGradient;
    }

    /// <summary>Takes the scores of the last call ([B, H, t]: attention received per kept key); the caller disposes them.</summary>
    public Tensor TakeScores()
    {
        var scores = _scores ?? throw new InvalidOperationException("This kernel was not asked to score, or has not run.");
        _scores = null;
        return scores;
    }

    public Tensor Attend(Tensor query, Tensor key, Tensor value)
    {
        using var scope = NewDisposeScope();
        var (b, h, dh) = (query.shape[0], query.shape[1], query.shape[3]);
        if (_keyIndex is not null)
        {
            var index = _keyIndex.unsqueeze(-1).expand(b, h, _keyIndex.shape[2], dh); // [B, H, t, dh]
            key = key.gather(2, index);
            value = value.gather(2, index);
        }

        var mask = _keyValid.unsqueeze(2); // [B, Hs, 1, t]
        if (_queryWeights is null)
        {
            return nn.functional.scaled_dot_product_attention(query, key, value, mask, _dropout).MoveToOuterDisposeScope();
        }

        // Inference takes the query rows in blocks (see QueryChunk); with autograd on, every probability is kept for
        // the backward pass anyway, so one block covers all rows.
        var rowsPerBlock = _scoresWithGradient || is_grad_enabled() ? query.shape[2] : QueryChunk;
        return AttendInBlocks(query, key, value, mask, rowsPerBlock).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Query rows per block in inference: only a [B, H, QueryChunk, t] probability block is alive at a time instead of
    /// [B, H, Tq, t]. The fused SDPA of the dense baseline never materialises probabilities; this keeps the scoring
    /// layers' peak memory near it.
    /// </summary>
    internal const long QueryChunk = 128;

    /// <summary>
    /// Softmax attention over the kept keys plus the importance scores, for blocks of <paramref name="rowsPerBlock"/>
    /// query rows. Exact per row (softmax is row-wise); the column sums add up block by block.
    /// </summary>
    private Tensor AttendInBlocks(Tensor query, Tensor key, Tensor value, Tensor keyMask, long rowsPerBlock)
    {
        var (dh, length) = (query.shape[3], query.shape[2]);
        var keysT = key.transpose(-2, -1);
        var masked = keyMask.logical_not();
        var fill = finfo(query.dtype).min;
        var outputs = new List<Tensor>((int)((length + rowsPerBlock - 1) / rowsPerBlock));
        Tensor? scores = null;
        for (long start = 0; start < length; start += rowsPerBlock)
        {
            using var block = NewDisposeScope();
            var rows = Math.Min(rowsPerBlock, length - start);
            // BERT's 1/sqrt(d_h) scale (spec A1), not the paper's 1/sqrt(d). Scaling the queries [rows, dh] rather than
            // the logits [rows, t], and masking in place, saves two passes over the largest tensor of the layer.
            var logits = matmul(query.narrow(2, start, rows) * (1.0 / Math.Sqrt(dh)), keysT); // [B, H, rows, t]
            logits.masked_fill_(masked, fill);
            var probs = nn.functional.softmax(logits, -1);
            using (_scoresWithGradient ? null : no_grad())
            {
                // Column sums over the counted query rows: [B, 1, 1, rows] @ [B, H, rows, t] -> [B, H, t].
                var part = matmul(_queryWeights!.narrow(3, start, rows), _scoresWithGradient ? probs : probs.detach()).squeeze(2);
                scores = scores is null ? part.MoveToOuterDisposeScope() : (scores + part).MoveToOuterDisposeScope();
            }

            var attended = _dropout > 0 ? nn.functional.dropout(probs, _dropout, training: true) : probs;
            outputs.Add(matmul(attended, value).MoveToOuterDisposeScope());
        }

        _scores?.Dispose();
        _scores = scores!.DetachFromDisposeScope();
        return outputs.Count == 1 ? outputs[0] : cat(outputs, 2);
    }
}
