using System.Text.Json.Nodes;
using Triage.Classifier.Pruning;
using static TorchSharp.torch;

namespace Triage.Classifier.Tests.Pruning;

public sealed class PtcPruningTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Ptc_p_keeps_floor_t_p_keys_per_row_cumulatively(bool perHead)
    {
        using var model = TinyModels.Classifier("ptc-p", new JsonObject { ["perHead"] = perHead });
        var strategy = (PtcStrategy)model.Strategy;
        var (ids, mask) = TinyModels.Batch(1, 512, 300);
        var kept = new List<(long[] Shape, long[] Index, bool[] Valid)>();
        strategy.KeptKeysObserver = (_, index, valid) =>
            kept.Add((index.shape, index.contiguous().data<long>().ToArray(), valid.contiguous().data<bool>().ToArray()));
        using var output = model.Forward(ids, mask);

        Assert.Equal(new long[] { 2, 4 }, output.KeysAttended.shape);
        Assert.Equal(new float[] { 512, 460, 414, 372, 300, 270, 243, 218 }, TinyModels.Floats(output.KeysAttended));
        Assert.Equal(new long[] { 2, 3 }, output.Logits.shape);
        int[] lengths = [512, 300];
        HashSet<long>[]? previous = null;
        foreach (var (shape, index, valid) in kept)
        {
            var sets = Sets(shape, index, valid);
            for (var s = 0; s < sets.Length; s++)
            {
                var row = s / (int)shape[1];
                // Padding keys are never kept, and every layer's keys are a subset of the previous layer's.
                Assert.All(sets[s], position => Assert.InRange(position, 0, lengths[row] - 1));
                if (previous is not null)
                {
                    Assert.Subset(previous[s], sets[s]);
                }
            }

            previous = sets;
        }
    }

    [Theory]
    [InlineData("ptc-pf")]
    [InlineData("ltp")]
    public void Inference_in_query_blocks_matches_the_whole_probability_matrix(string method)
    {
        // 300 and 500 query rows: several blocks of 128 and a ragged last one. With autograd on, the scoring layers take
        // the whole [B, H, T, t] path; under inference mode, the blocked one. Same kept keys, same outputs.
        using var model = TinyModels.Classifier(method, method == "ltp" ? null : new JsonObject { ["p"] = 0.7 });
        var (ids, mask) = TinyModels.Batch(5, 500, 300);
        using var whole = model.Forward(ids, mask);
        float[] blockedLogits, blockedKeys;
        using (inference_mode())
        {
            using var blocked = model.Forward(ids, mask);
            (blockedLogits, blockedKeys) = (TinyModels.Floats(blocked.Logits), TinyModels.Floats(blocked.KeysAttended));
        }

        Assert.Equal(TinyModels.Floats(whole.KeysAttended), blockedKeys);
        var wholeLogits = TinyModels.Floats(whole.Logits);
        for (var i = 0; i < wholeLogits.Length; i++)
        {
            Assert.Equal(wholeLogits[i], blockedLogits[i], 4);
        }
    }

    [Fact]
    public void Ptc_p_output_keeps_every_query_token()
    {
        using var model = TinyModels.Classifier("ptc-p");
        var (ids, mask) = TinyModels.Batch(2, 40, 17);
        using var encoded = model.Bert.Forward(ids, mask, null, model.Strategy);
        Assert.Equal(new long[] { 2, 40, 32 }, encoded.Hidden.shape);
        Assert.True(encoded.Mask.eq(mask).all().item<bool>());
    }

    [Fact]
    public void Ptc_pf_keeps_at_least_the_ratio_and_never_more_than_before()
    {
        using var model = TinyModels.Classifier("ptc-pf", new JsonObject { ["p"] = 0.5 });
        var (ids, mask) = TinyModels.Batch(3, 200, 120);
        using var output = model.Forward(ids, mask);
        var keys = TinyModels.Floats(output.KeysAttended);
        for (var row = 0; row < 2; row++)
        {
            for (var layer = 1; layer < 4; layer++)
            {
                var previous = keys[(row * 4) + layer - 1];
                var current = keys[(row * 4) + layer];
                Assert.InRange(current, Math.Floor(previous * 0.5), previous);
            }
        }
    }

    [Fact]
    public void Fuzzy_rule_r1_protects_important_keys_then_fills_to_the_ratio()
    {
        // Ten candidates scored 0.01 … 0.10: a = 0.0325, b = 0.0775, protected = S > a + 0.1 (b − a) = 0.037 → 7 keys.
        using var scores = (arange(1, 11, dtype: ScalarType.Float32) / 100f).view(1, 1, 10);
        using var current = new KeptKeys(arange(10, dtype: ScalarType.Int64).view(1, 1, 10), ones(1, 1, 10, ScalarType.Bool));
        using var none = zeros(1, 1, 10, ScalarType.Bool);
        using var halfFuzzy = KeySelection.Select(scores, current, none, 0.5, new FuzzyRule());
        Assert.Equal(new long[] { 3, 4, 5, 6, 7, 8, 9 }, halfFuzzy.Index.masked_select(halfFuzzy.Valid).data<long>().ToArray());
        using var highFuzzy = KeySelection.Select(scores, current, none, 0.9, new FuzzyRule());
        Assert.Equal(9L, highFuzzy.Valid.sum().item<long>());
        using var halfRatio = KeySelection.Select(scores, current, none, 0.5, null);
        Assert.Equal(new long[] { 5, 6, 7, 8, 9 }, halfRatio.Index.masked_select(halfRatio.Valid).data<long>().ToArray());

        // Degenerate spread (b − a = 0): plain ratio pruning.
        using var flat = full(1, 1, 10, 0.1f);
        using var degenerate = KeySelection.Select(flat, current, none, 0.5, new FuzzyRule());
        Assert.Equal(5L, degenerate.Valid.sum().item<long>());
    }

    [Fact]
    public void Masked_quantile_matches_torch_quantile_on_the_valid_entries()
    {
        manual_seed(5);
        using var values = rand(3, 20);
        int[] counts = [20, 7, 1];
        using var valid = arange(20).unsqueeze(0).lt(tensor(counts.Select(c => (long)c).ToArray()).unsqueeze(1));
        foreach (var q in new[] { 0.25, 0.75 })
        {
            using var ours = KeySelection.MaskedQuantile(values, valid, q);
            for (var row = 0; row < 3; row++)
            {
                using var rowValues = values[row].narrow(0, 0, counts[row]);
                using var expected = rowValues.quantile(tensor(q, ScalarType.Float32));
                Assert.Equal(expected.item<float>(), ours[row].item<float>(), 6);
            }
        }
    }

    private static HashSet<long>[] Sets(long[] shape, long[] index, bool[] valid)
    {
        var (rows, width) = ((int)(shape[0] * shape[1]), (int)shape[2]);
        return Enumerable.Range(0, rows)
            .Select(r => Enumerable.Range(0, width).Where(j => valid[(r * width) + j]).Select(j => index[(r * width) + j]).ToHashSet())
            .ToArray();
    }
}
