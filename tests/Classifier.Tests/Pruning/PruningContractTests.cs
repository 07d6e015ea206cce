using System.Text.Json.Nodes;
using Triage.Classifier.Checkpoints;
using Triage.Classifier.Modeling;
using Triage.Classifier.Pruning;
using Triage.Classifier.Tests.Support;
using static TorchSharp.torch;

namespace Triage.Classifier.Tests.Pruning;

/// <summary>What every method must do: batch-invariance, save/load, and validated parameters.</summary>
public sealed class PruningContractTests
{
    public static TheoryData<string, string> Methods() => new()
    {
        { "ptc-p", "{}" },
        { "ptc-p", """{"perHead": false, "p": 0.7}""" },
        { "ptc-pf", """{"p": 0.6}""" },
        { "ptc-pf", """{"p": 0.6, "perHead": false}""" },
        { "ptc-c", """{"combineLayer": 3}""" },
        { "ptc-pfc", """{"combineLayer": 3, "p": 0.6, "combinationTokens": 4}""" },
        { "ptc-pfc", """{"combineLayer": 1}""" },
        { "ltp", """{"finalThreshold": 0.05}""" },
    };

    [Theory]
    [MemberData(nameof(Methods))]
    public void A_document_alone_and_inside_a_padded_batch_gives_the_same_output(string method, string parameters)
    {
        using var model = TinyModels.Classifier(method, Parse(parameters));
        int[] lengths = [37, 90, 12, 64];
        var (ids, mask) = TinyModels.Batch(11, lengths);
        using var batched = model.Forward(ids, mask);
        for (var row = 0; row < lengths.Length; row++)
        {
            var (aloneIds, aloneMask) = TinyModels.Alone(ids, row, lengths[row]);
            using var alone = model.Forward(aloneIds, aloneMask);
            var diff = (alone.Logits[0] - batched.Logits[row]).abs().max().item<float>();
            Assert.True(diff <= 1e-5, $"{method} row {row}: logits max |diff| {diff}");
            Assert.Equal(TinyModels.Floats(alone.KeysAttended[0]), TinyModels.Floats(batched.KeysAttended[row]));
        }

        if (method == "ltp")
        {
            Assert.True(TinyModels.Floats(batched.KeysAttended).Chunk(4).Any(r => r[3] < r[0]), "the LTP case should prune");
        }
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void Parameters_round_trip_through_safetensors_bit_identically(string method, string parameters)
    {
        using var original = TinyModels.Classifier(method, Parse(parameters), seed: 21);
        if (original.Strategy is LtpStrategy ltp)
        {
            using var noGrad = no_grad();
            ltp.Thresholds.add_(rand_like(ltp.Thresholds) * 0.01);
        }

        using var directory = new TempDirectory();
        var path = directory.File("model.safetensors");
        SafeTensorsWriter.Write(path, CheckpointLoader.StateOf(original));
        using var restored = TinyModels.Classifier(method, Parse(parameters), seed: 22);
        using (var file = SafeTensorsFile.Open(path))
        {
            var report = CheckpointLoader.Load(restored, file, "bert.");
            Assert.Empty(report.Ignored);
            Assert.Equal(original.named_parameters().Count(), report.Loaded.Count);
        }

        var strategyKeys = original.named_parameters().Select(p => p.name).Where(n => n.StartsWith("strategy.", StringComparison.Ordinal)).ToList();
        if (method is "ptc-c" or "ptc-pfc")
        {
            Assert.Contains("strategy.combining.tokens", strategyKeys);
        }
        else if (method == "ltp")
        {
            Assert.Equal(["strategy.thresholds"], strategyKeys);
        }
        else
        {
            Assert.Empty(strategyKeys);
        }

        var (ids, mask) = TinyModels.Batch(12, 70, 33);
        using var expected = original.Forward(ids, mask);
        using var actual = restored.Forward(ids, mask);
        Assert.True(expected.Logits.eq(actual.Logits).all().item<bool>(), $"{method}: logits differ after the round trip");
    }

    [Theory]
    [InlineData("ptc-p", """{"p": 0}""", "method.p must be in (0, 1]")]
    [InlineData("ptc-pf", """{"p": 1.5}""", "method.p must be in (0, 1]")]
    [InlineData("ptc-p", """{"p": "high"}""", "method.p must be a number")]
    [InlineData("ptc-p", """{"perHead": 1}""", "method.perHead must be true or false")]
    [InlineData("ptc-p", """{"combinationTokens": 8}""", "method.combinationTokens is not a parameter of ptc-p")]
    [InlineData("ptc-c", """{"p": 0.9}""", "method.p is not a parameter of ptc-c")]
    [InlineData("ptc-c", """{"combinationTokens": 0}""", "method.combinationTokens must be at least 1")]
    [InlineData("ptc-c", """{"combinationTokens": 2.5}""", "method.combinationTokens must be an integer")]
    [InlineData("ptc-pfc", """{"combineLayer": 0}""", "method.combineLayer must be in [1, 4]")]
    [InlineData("ptc-pfc", """{"combineLayer": 5}""", "method.combineLayer must be in [1, 4]")]
    [InlineData("ptc-c", """{"gumbelTemperature": 0}""", "method.gumbelTemperature must be positive")]
    [InlineData("ltp", """{"temperature": -1}""", "method.temperature must be positive")]
    [InlineData("ltp", """{"lambda": -0.1}""", "method.lambda must be non-negative")]
    [InlineData("ltp", """{"finalThreshold": 2}""", "method.finalThreshold must be in [0, 1)")]
    [InlineData("ltp", """{"p": 0.9}""", "method.p is not a parameter of ltp")]
    public void Invalid_parameters_are_rejected_naming_the_field(string method, string parameters, string message)
    {
        var ex = Assert.Throws<ArgumentException>(() => TinyModels.Strategy(method, TinyModels.Config(), Parse(parameters)));
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Factory_knows_every_method_and_applies_the_defaults()
    {
        Assert.Equal(["dense", "ptc-p", "ptc-pf", "ptc-c", "ptc-pfc", "ltp"], EncoderStrategyFactory.KnownMethods);
        var config = TinyModels.Config();
        foreach (var name in PruningMethods.Names)
        {
            using var strategy = TinyModels.Strategy(name, config);
            Assert.Equal(name, strategy.Method);
        }

        var pf = (PtcStrategy)TinyModels.Strategy("ptc-pf", config);
        Assert.Equal(0.9, pf.Options.KeepRatio);
        Assert.True(pf.Options.PerHead);
        Assert.Equal(new FuzzyRule(), pf.Options.Fuzzy);
        Assert.False(pf.Options.Combines);
        var ltp = (LtpStrategy)TinyModels.Strategy("ltp", config);
        Assert.Equal(0.0025, ltp.Options.FinalThreshold, 12);
        Assert.Equal(2.5e-4, ltp.Options.Temperature, 12);
        Assert.Equal(0.1, ltp.Options.Lambda);
        Assert.Equal(LtpStage.Soft, ltp.Stage);
        Assert.Equal(new[] { 0f, 0.000625f, 0.00125f, 0.001875f }, TinyModels.Floats(ltp.Thresholds));
    }

    private static JsonObject Parse(string json) => (JsonObject)JsonNode.Parse(json)!;
}
