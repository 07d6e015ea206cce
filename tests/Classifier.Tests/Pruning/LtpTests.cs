using System.Text.Json.Nodes;
using Triage.Classifier.Pruning;
using static TorchSharp.torch;

namespace Triage.Classifier.Tests.Pruning;

public sealed class LtpTests
{
    [Fact]
    public void Hard_stage_drops_tokens_physically_and_keeps_cls()
    {
        using var model = TinyModels.Classifier("ltp", new JsonObject { ["finalThreshold"] = 0.06 });
        var strategy = (LtpStrategy)model.Strategy;
        var (ids, mask) = TinyModels.Batch(7, 64, 40);
        var firstPositions = new List<long[]>();
        strategy.KeptTokensObserver = (_, positions, _) => firstPositions.Add(positions.select(1, 0).contiguous().data<long>().ToArray());
        using var encoded = model.Bert.Forward(ids, mask, null, strategy);

        Assert.True(encoded.Hidden.shape[1] < 64, $"T' = {encoded.Hidden.shape[1]}");
        Assert.Equal(encoded.Hidden.shape[1], encoded.Mask.shape[1]);
        var keys = TinyModels.Floats(encoded.KeysAttended);
        Assert.Equal(new[] { 64f, 64f }, new[] { keys[0], keys[1] }); // the first layer never prunes
        Assert.True(keys[3] < keys[1], $"keys per layer {string.Join(",", keys)}");
        var kept = TinyModels.Floats(encoded.Mask.sum(1, type: ScalarType.Float32));
        Assert.True(kept[0] < 64 && kept[1] < 40 && kept[0] >= 1 && kept[1] >= 1);
        Assert.All(firstPositions, row => Assert.All(row, p => Assert.Equal(0L, p)));
    }

    [Fact]
    public void Soft_stage_keeps_the_shape_and_thresholds_get_gradients()
    {
        using var model = TinyModels.Classifier("ltp", new JsonObject { ["finalThreshold"] = 0.04, ["temperature"] = 0.01 });
        var strategy = (LtpStrategy)model.Strategy;
        model.train();
        strategy.Stage = LtpStage.Soft;
        var (ids, mask) = TinyModels.Batch(8, 32, 20);
        using (var encoded = model.Bert.Forward(ids, mask, null, strategy))
        {
            Assert.Equal(32, encoded.Hidden.shape[1]);
        }

        using var _ = strategy.TakeRegularizationLoss();
        using var output = model.Forward(ids, mask);
        using var regularizer = strategy.TakeRegularizationLoss();
        Assert.NotNull(regularizer);
        Assert.Null(strategy.TakeRegularizationLoss());
        using var loss = nn.functional.cross_entropy(output.Logits, tensor(new long[] { 0, 2 })) + regularizer;
        loss.backward();
        var grad = strategy.Thresholds.grad;
        Assert.NotNull(grad);
        var values = TinyModels.Floats(grad!);
        Assert.Equal(0f, values[0]); // layer 1 never prunes
        Assert.All(values.Skip(1), g => Assert.NotEqual(0f, g));
    }

    [Fact]
    public void Hard_stage_in_training_also_drops_and_eval_ignores_the_stage()
    {
        using var model = TinyModels.Classifier("ltp", new JsonObject { ["finalThreshold"] = 0.06 });
        var strategy = (LtpStrategy)model.Strategy;
        var (ids, mask) = TinyModels.Batch(9, 48);
        strategy.Stage = LtpStage.Soft;
        using (var evaluated = model.Bert.Forward(ids, mask, null, strategy))
        {
            Assert.True(evaluated.Hidden.shape[1] < 48);
        }

        model.train();
        strategy.Stage = LtpStage.Hard;
        using var trained = model.Bert.Forward(ids, mask, null, strategy);
        Assert.True(trained.Hidden.shape[1] < 48);
        Assert.Null(strategy.TakeRegularizationLoss());
    }
}
