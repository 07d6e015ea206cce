using System.Text.Json.Nodes;
using Triage.Classifier.Modeling;
using Triage.Classifier.Pruning;

namespace Triage.Classifier.Tests.Pruning;

/// <summary>With nothing to prune, every pruning path must reproduce the dense encoder on a real checkpoint.</summary>
public sealed class PruningEquivalenceTests
{
    [Theory]
    [InlineData("ptc-p", """{"p": 1}""")]
    [InlineData("ptc-p", """{"p": 1, "perHead": false}""")]
    [InlineData("ptc-pf", """{"p": 1}""")]
    [InlineData("ltp", """{"finalThreshold": 0}""")]
    public void Without_pruning_the_method_equals_dense_on_parity_a(string method, string parameters)
    {
        using var model = ParityTests.LoadEncoder("parity-a");
        using var strategy = PruningMethods.Create(new MethodSettings(method, (JsonObject)JsonNode.Parse(parameters)!), model.Config);
        var (ids, mask) = TinyModels.Batch(13, 48, 20, 33);
        var observer = new LayerTimingObserver();
        using var dense = model.Forward(ids, mask, null, new DenseStrategy());
        using var pruned = model.Forward(ids, mask, null, strategy, observer);
        Assert.Equal(dense.Hidden.shape, pruned.Hidden.shape);
        using var real = mask.unsqueeze(-1);
        var diff = ((dense.Hidden - pruned.Hidden) * real).abs().max().item<float>();
        Assert.True(diff <= 1e-5, $"{method}: max |diff| vs dense {diff}");
        Assert.Equal(TinyModels.Floats(dense.KeysAttended), TinyModels.Floats(pruned.KeysAttended));
        Assert.Equal(2, observer.Elapsed.Count);
    }
}
