using static TorchSharp.torch;

namespace Triage.Classifier.Pruning;

/// <summary>The fuzzy membership settings of PTC's pruning decision (spec §1.5).</summary>
/// <param name="LowerQuantile">a = Q(LowerQuantile) of the scores: below it a key is fully unimportant.</param>
/// <param name="UpperQuantile">b = Q(UpperQuantile): above it a key is fully important.</param>
/// <param name="AlphaImportance">α-cut of the Importance membership (0.01 in the paper).</param>
/// <param name="AlphaUnimportance">α-cut of the Unimportance membership (0.9 in the paper).</param>
/// <param name="Epsilon">When b − a is below this, the ramps are undefined and every key is a candidate (plain ratio pruning).</param>
public sealed record FuzzyRule(
    double LowerQuantile = 0.25,
    double UpperQuantile = 0.75,
    double AlphaImportance = 0.01,
    double AlphaUnimportance = 0.9,
    double Epsilon = 1e-9);

/// <summary>The kept keys of one layer: positions and which slots are real.</summary>
/// <param name="Index">[B, Hs, t] int64 positions into the sequence; unused slots hold 0.</param>
/// <param name="Valid">[B, Hs, t] bool; valid slots come first, in ascending position order.</param>
internal sealed record KeptKeys(Tensor Index, Tensor Valid) : IDisposable
{
    public KeptKeys MoveToOuterDisposeScope()
    {
        Index.MoveToOuterDisposeScope();
        Valid.MoveToOuterDisposeScope();
        return this;
    }

    public void Dispose()
    {
        Index.Dispose();
        Valid.Dispose();
    }
}

/// <summary>PTC's ratio and fuzzy key selection (spec §1.4–1.5). Pure index arithmetic, always under no_grad.</summary>
internal static class KeySelection
{
    /// <summary>
    /// Chooses the keys of the next layer from the current kept keys. Each (row, head-set) keeps
    /// max(⌊t·p⌋, |protected|) of its t real kept keys (at least one), highest scores first, plus every always-kept key.
    /// </summary>
    /// <param name="scores">[B, Hs, t] importance of each kept slot.</param>
    /// <param name="current">The keys the scores refer to.</param>
    /// <param name="alwaysKept">[B, Hs, t] bool: slots that are never pruned (combination tokens); not counted in t.</param>
    /// <param name="keepRatio">p in (0, 1].</param>
    /// <param name="fuzzy">Null for plain ratio pruning (ptc-p).</param>
    public static KeptKeys Select(Tensor scores, KeptKeys current, Tensor alwaysKept, double keepRatio, FuzzyRule? fuzzy)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var s = scores.detach().to(ScalarType.Float32);
        var valid = current.Valid;
        var always = valid.logical_and(alwaysKept);
        var candidates = valid.logical_and(alwaysKept.logical_not()); // real kept keys that may be pruned
        var count = candidates.sum(-1, type: ScalarType.Float64); // [B, Hs]
        // Integer ⌊t·p⌋ (the tiny offset keeps e.g. 460·0.9 = 414 from flooring to 413); never below one key.
        var target = (count * keepRatio + 1e-9).floor().maximum(count.clamp_max(1.0));

        var priority = where(candidates, s, tensor(-1f, device: s.device));
        if (fuzzy is not null)
        {
            var protectedKeys = Protected(s, candidates, fuzzy);
            target = target.maximum(protectedKeys.sum(-1, type: ScalarType.Float64));
            // Scores are attention means in [0, 1], so +2 ranks every protected key above every candidate.
            priority = where(protectedKeys, s + 2f, priority);
        }

        priority = where(always, tensor(10f, device: s.device), priority);
        var keepCount = (target + always.sum(-1, type: ScalarType.Float64)).to(ScalarType.Int64); // [B, Hs]
        var width = keepCount.max().item<long>();
        var order = priority.sort(-1, descending: true).Indices.narrow(-1, 0, width); // [B, Hs, t']
        var slot = arange(width, dtype: ScalarType.Int64, device: s.device);
        var keptValid = slot.lt(keepCount.unsqueeze(-1)); // [B, Hs, t']
        var positions = current.Index.gather(-1, order);
        // Canonical order (ascending position, unused slots last) so the result does not depend on sort ties.
        var sentinel = long.MaxValue;
        var sorted = where(keptValid, positions, tensor(sentinel, device: s.device)).sort(-1).Values;
        var newValid = sorted.ne(sentinel);
        var newIndex = where(newValid, sorted, tensor(0L, device: s.device));
        return new KeptKeys(newIndex, newValid).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Decision rule R1 (spec §1.5): the protected set is I − U, i.e. Importance ≥ α_I and not Unimportance ≥ α_U,
    /// with a, b the quantiles of the candidate scores of each sample pooled over the head axis (spec A6).
    /// </summary>
    internal static Tensor Protected(Tensor scores, Tensor candidates, FuzzyRule rule)
    {
        using var scope = NewDisposeScope();
        var b = scores.shape[0];
        var flat = scores.reshape(b, -1);
        var flatValid = candidates.reshape(b, -1);
        var lower = MaskedQuantile(flat, flatValid, rule.LowerQuantile).view(b, 1, 1);
        var upper = MaskedQuantile(flat, flatValid, rule.UpperQuantile).view(b, 1, 1);
        var width = upper - lower;
        // Importance(S) ≥ α_I  ⇔  S ≥ a + α_I (b − a);   Unimportance(S) ≥ α_U  ⇔  S ≤ a + (1 − α_U)(b − a).
        var important = scores.ge(lower + (rule.AlphaImportance * width));
        var unimportant = scores.le(lower + ((1.0 - rule.AlphaUnimportance) * width));
        // Degenerate spread (e.g. a very short document): no ramps, every key is a candidate.
        var defined = width.ge(rule.Epsilon);
        return important.logical_and(unimportant.logical_not()).logical_and(defined).logical_and(candidates).MoveToOuterDisposeScope();
    }

    /// <summary>Per-row quantile over the valid entries, linear interpolation as torch.quantile's default.</summary>
    /// <param name="values">[B, N].</param>
    /// <param name="valid">[B, N] bool; each row needs at least one valid entry.</param>
    /// <returns>[B].</returns>
    internal static Tensor MaskedQuantile(Tensor values, Tensor valid, double q)
    {
        using var scope = NewDisposeScope();
        var sorted = where(valid, values, tensor(float.PositiveInfinity, dtype: values.dtype, device: values.device)).sort(-1).Values;
        var count = valid.sum(-1, type: ScalarType.Float64).clamp_min(1.0); // [B]
        var position = (count - 1.0) * q;
        var lowIndex = position.floor();
        var highIndex = (lowIndex + 1.0).minimum(count - 1.0);
        var fraction = (position - lowIndex).to(values.dtype).unsqueeze(-1);
        var low = sorted.gather(-1, lowIndex.to(ScalarType.Int64).unsqueeze(-1));
        var high = sorted.gather(-1, highIndex.to(ScalarType.Int64).unsqueeze(-1));
        return (low + ((high - low) * fraction)).squeeze(-1).MoveToOuterDisposeScope();
    }
}
