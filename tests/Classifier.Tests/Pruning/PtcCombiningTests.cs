using System.Text.Json.Nodes;
using Triage.Classifier.Pruning;
using static TorchSharp.torch;

namespace Triage.Classifier.Tests.Pruning;

public sealed class PtcCombiningTests
{
    [Theory]
    [InlineData("ptc-c")]
    [InlineData("ptc-pfc")]
    public void Combining_outputs_m_tokens_with_an_all_true_mask(string method)
    {
        using var model = TinyModels.Classifier(method, new JsonObject { ["combinationTokens"] = 4, ["combineLayer"] = 3 });
        var (ids, mask) = TinyModels.Batch(4, 50, 21);
        using var encoded = model.Bert.Forward(ids, mask, null, model.Strategy);
        Assert.Equal(new long[] { 2, 4, 32 }, encoded.Hidden.shape);
        Assert.True(encoded.Mask.all().item<bool>());
        Assert.Equal(new long[] { 2, 4 }, encoded.Mask.shape);
        var keys = TinyModels.Floats(encoded.KeysAttended);
        // Layer 1 attends to every real token plus the 4 combination tokens; layer 3 (the module) pools the real
        // tokens; layer 4 runs on the 4 combination tokens.
        Assert.Equal(54f, keys[0]);
        Assert.Equal(25f, keys[4]);
        Assert.Equal(50f, keys[2]);
        Assert.Equal(4f, keys[3]);
        Assert.Equal(4f, keys[7]);
        if (method == "ptc-c")
        {
            Assert.Equal(54f, keys[1]); // no pruning before the module
        }
        else
        {
            Assert.InRange(keys[1], 4 + Math.Floor(50 * 0.9), 54);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Combination_tokens_and_only_real_tokens_are_kept_in_pruned_layers(bool perHead)
    {
        using var model = TinyModels.Classifier("ptc-pfc", new JsonObject { ["combineLayer"] = 4, ["p"] = 0.6, ["perHead"] = perHead });
        var strategy = (PtcStrategy)model.Strategy;
        int[] lengths = [80, 33];
        var (ids, mask) = TinyModels.Batch(5, lengths);
        var observed = 0;
        strategy.KeptKeysObserver = (_, index, valid) =>
        {
            observed++;
            var (b, hs, t) = ((int)index.shape[0], (int)index.shape[1], (int)index.shape[2]);
            var indexes = index.contiguous().data<long>().ToArray();
            var valids = valid.contiguous().data<bool>().ToArray();
            for (var row = 0; row < b; row++)
            {
                for (var head = 0; head < hs; head++)
                {
                    var set = Enumerable.Range(0, t).Where(j => valids[(((row * hs) + head) * t) + j])
                        .Select(j => indexes[(((row * hs) + head) * t) + j]).ToList();
                    // The 8 combination tokens sit at positions T..T+7 and are never pruned.
                    Assert.Equal(8, set.Count(p => p >= 80));
                    Assert.All(set.Where(p => p < 80), p => Assert.InRange(p, 0, lengths[row] - 1));
                }
            }
        };
        using var output = model.Forward(ids, mask);
        Assert.Equal(3, observed);
    }

    [Fact]
    public void Default_combine_layer_scales_the_papers_7_of_12()
    {
        Assert.Equal(7, PruningMethods.DefaultCombineLayer(12));
        Assert.Equal(2, PruningMethods.DefaultCombineLayer(4));
        Assert.Equal(1, PruningMethods.DefaultCombineLayer(2));
        Assert.Equal(4, PruningMethods.DefaultCombineLayer(6));
        var strategy = (PtcStrategy)TinyModels.Strategy("ptc-c", TinyModels.Config());
        Assert.Equal(2, strategy.Options.CombineLayer);
        Assert.Equal(8, strategy.Options.CombinationTokens);
    }

    [Fact]
    public void Warm_start_copies_the_replaced_layers_attention_projections()
    {
        using var model = TinyModels.Classifier("ptc-c", new JsonObject { ["combineLayer"] = 3 });
        var strategy = (PtcStrategy)model.Strategy;
        strategy.WarmStart(model.Bert.Layers);
        var layer = model.Bert.Layers[2].named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var module = strategy.Combining!.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.True(module["query.weight"].eq(layer["attention.self.query.weight"]).all().item<bool>());
        Assert.True(module["key.bias"].eq(layer["attention.self.key.bias"]).all().item<bool>());
        Assert.True(module["value.weight"].eq(layer["attention.self.value.weight"]).all().item<bool>());
        Assert.True(module["output.weight"].eq(layer["attention.output.dense.weight"]).all().item<bool>());
    }

    [Theory]
    [InlineData("ptc-c")]
    [InlineData("ptc-pfc")]
    public void Gradients_reach_the_combining_module(string method)
    {
        using var model = TinyModels.Classifier(method);
        model.train();
        var (ids, mask) = TinyModels.Batch(6, 30, 12, 25);
        using var output = model.Forward(ids, mask);
        using var loss = nn.functional.cross_entropy(output.Logits, tensor(new long[] { 0, 1, 2 }));
        loss.backward();
        var parameters = model.named_parameters().Where(p => p.name.StartsWith("strategy.", StringComparison.Ordinal)).ToList();
        Assert.Equal(13, parameters.Count); // tokens, 2 LayerNorms, 4 Linears
        foreach (var (name, parameter) in parameters)
        {
            Assert.True(parameter.grad is not null, $"{name} has no gradient");
            // A shift shared by all slots leaves the softmax over slots unchanged, so these two biases get exactly 0.
            if (name is not ("strategy.combining.query.bias" or "strategy.combining.norm_tokens.bias"))
            {
                Assert.True(parameter.grad!.abs().sum().item<float>() > 0, $"{name} has a zero gradient");
            }
        }
    }
}
