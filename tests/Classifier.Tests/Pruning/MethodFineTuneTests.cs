using Triage.Classifier.Checkpoints;
using Triage.Classifier.Evaluation;
using Triage.Classifier.Modeling;
using Triage.Classifier.Models;
using Triage.Classifier.Tests.Support;
using Triage.Classifier.Tokenization;
using Triage.Classifier.Training;

namespace Triage.Classifier.Tests.Pruning;

/// <summary>
/// One short real fine-tune per method: a tiny 3-layer encoder on 60 real BBC articles (128 tokens), through the same
/// <see cref="ModelTrainer"/> the CLI uses. Proves each method trains (its loss goes down), saves and evaluates.
/// </summary>
[Collection(GlobalRngCollection.Name)]
public sealed class MethodFineTuneTests
{
    private static readonly BertConfig Tiny = new() { HiddenSize = 32, NumHiddenLayers = 3, NumAttentionHeads = 2, IntermediateSize = 64, MaxPositionEmbeddings = 128 };

    [Theory]
    [InlineData("dense", "")]
    [InlineData("ptc-p", "p=0.7")]
    [InlineData("ptc-pf", "p=0.7")]
    [InlineData("ptc-c", "combineLayer=2")]
    [InlineData("ptc-pfc", "p=0.7,combineLayer=3")]
    [InlineData("ltp", "finalThreshold=0.01")]
    public void Short_real_fine_tune_lowers_the_loss(string method, string parameters)
    {
        using var dir = new TempDirectory();
        NewsSubset.Write(dir.File("data.jsonl"), perLabel: 15);
        var losses = new List<double>();
        var outcome = ModelTrainer.Run(
            Request(dir, method, parameters, epochs: 4),
            new SynchronousProgress<TrainingProgress>(p =>
            {
                if (p.ValidationLoss is null && !double.IsNaN(p.Loss))
                {
                    losses.Add(p.Loss);
                }
            }),
            CancellationToken.None);

        // LTP runs a soft stage then a hard one; the first stage's steps are the ones compared.
        var firstStage = method == "ltp" ? losses.Take(losses.Count * 2 / 3).ToList() : losses;
        var (first, last) = (firstStage.Take(8).Average(), firstStage.TakeLast(8).Average());
        Assert.True(last < first, $"{method}: loss did not go down: first {first:F3}, last {last:F3}");
        Assert.Equal(method, outcome.Manifest.Method.Name);

        using var model = TriageModel.Load(dir.File("model"));
        Assert.Equal(method, model.Manifest.Method.Name);
        var validation = LabelledDataset.Load(dir.File("data.jsonl")).Split("validation");
        var result = ModelEvaluator.Evaluate(model, validation, 4096, 1, CancellationToken.None);
        Assert.Equal(3, result.MeanTokensAttendedPerLayer.Count);
        if (method is "ptc-p" or "ptc-pf")
        {
            // Keys are pruned from layer 2 on: fewer keys attended in each later layer.
            Assert.True(result.MeanTokensAttendedPerLayer[2] < result.MeanTokensAttendedPerLayer[0], string.Join(", ", result.MeanTokensAttendedPerLayer));
        }
        else if (method == "ptc-c")
        {
            // Layer 3 runs on the 8 combination tokens only.
            Assert.Equal(8, result.MeanTokensAttendedPerLayer[2], 3);
        }
    }

    [Fact]
    public void A_triage_model_as_base_keeps_its_classifier_head_when_the_labels_match()
    {
        using var dir = new TempDirectory();
        NewsSubset.Write(dir.File("data.jsonl"), perLabel: 6);
        ModelTrainer.Run(Request(dir, "dense", "", epochs: 1), null, CancellationToken.None);
        var dense = dir.File("model");
        var continued = dir.File("continued");

        // Learning rate 0: whatever was loaded is what gets saved, so the saved head shows where it came from.
        ModelTrainer.Run(
            Request(dir, "ptc-p", "p=0.7", epochs: 1) with { BaseCheckpoint = dense, ScratchConfig = null, OutputDirectory = continued, Options = Options(1) with { LearningRate = 0 } },
            null,
            CancellationToken.None);

        using var before = SafeTensorsFile.Open(Path.Combine(dense, "model.safetensors"));
        using var after = SafeTensorsFile.Open(Path.Combine(continued, "model.safetensors"));
        foreach (var key in new[] { "classifier.weight", "classifier.bias", "bert.encoder.layer.0.attention.self.query.weight" })
        {
            using var a = before.ReadTensor(key);
            using var b = after.ReadTensor(key);
            Assert.True(a.to(TorchSharp.torch.ScalarType.Float32).allclose(b.to(TorchSharp.torch.ScalarType.Float32), rtol: 0, atol: 0), $"{key} changed");
        }

        using var model = TriageModel.Load(continued);
        Assert.Equal("ptc-p", model.Manifest.Method.Name);
        Assert.Equal(Path.GetFullPath(dense), model.Manifest.BaseCheckpoint);
    }

    private static TrainRequest Request(TempDirectory dir, string method, string parameters, int epochs) => new()
    {
        DataPath = dir.File("data.jsonl"),
        OutputDirectory = dir.File("model"),
        ScratchConfig = Tiny,
        VocabPath = SharedAssets.BertBaseVocab,
        Method = new MethodSettings(method, ParseParameters(parameters)),
        LongDocument = new LongDocumentPolicy { MaxTokens = 128 },
        Options = Options(epochs),
        Threads = 1,
    };

    private static FineTuneOptions Options(int epochs) =>
        new() { LearningRate = 3e-3, Epochs = epochs, Patience = epochs, BatchSize = 8, MaxBatchTokens = 8 * 128, WarmupFraction = 0.1 };

    private static System.Text.Json.Nodes.JsonObject ParseParameters(string text)
    {
        var parameters = new System.Text.Json.Nodes.JsonObject();
        foreach (var pair in text.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var (key, value) = (pair[..pair.IndexOf('=', StringComparison.Ordinal)], pair[(pair.IndexOf('=', StringComparison.Ordinal) + 1)..]);
            parameters[key] = value.Contains('.', StringComparison.Ordinal)
                ? double.Parse(value, System.Globalization.CultureInfo.InvariantCulture)
                : int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
        }

        return parameters;
    }
}
