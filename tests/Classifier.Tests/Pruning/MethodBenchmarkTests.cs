using System.Text.Json.Nodes;
using Triage.Classifier.Checkpoints;
using Triage.Classifier.Evaluation;
using Triage.Classifier.Modeling;
using Triage.Classifier.Models;
using Triage.Classifier.Tests.Support;
using Triage.Classifier.Tokenization;
using Triage.Classifier.Training;
using static TorchSharp.torch;

namespace Triage.Classifier.Tests.Pruning;

/// <summary>The side-by-side benchmark's bookkeeping on tiny random models and real articles (its timings are not
/// asserted: they belong to the benchmark's own report).</summary>
[Collection(GlobalRngCollection.Name)]
public sealed class MethodBenchmarkTests
{
    [Fact]
    public void Rows_are_relative_to_dense_with_a_layer_profile_and_a_training_pass()
    {
        using var dir = new TempDirectory();
        var labels = new[] { "business", "entertainment", "politics", "sport", "tech" };
        var documents = LabelledDataset.Load(NewsSubset.Write(dir.File("data.jsonl"), perLabel: 2)).Documents;
        var config = new BertConfig { HiddenSize = 32, NumHiddenLayers = 3, NumAttentionHeads = 2, IntermediateSize = 64, MaxPositionEmbeddings = 512 };
        string Save(string name, string method, JsonObject parameters)
        {
            manual_seed(7);
            using var network = new SequenceClassifier(config, labels.Length, Pooling.Mean, EncoderStrategyFactory.Create(new MethodSettings(method, parameters), config));
            BertInitializer.Apply(network, config.PadTokenId);
            var manifest = new TriageManifest { ModelVersion = name, Labels = labels, Method = new MethodSettings(method, parameters), LongDocument = new LongDocumentPolicy { MaxTokens = 256 } };
            TriageModel.Save(dir.File(name), config, manifest, SharedAssets.BertBaseVocab, network);
            return dir.File(name);
        }

        using var dense = TriageModel.Load(Save("dense", "dense", []));
        using var combined = TriageModel.Load(Save("pfc", "ptc-pfc", new JsonObject { ["p"] = 0.5, ["combineLayer"] = 2 }));
        using var ltp = TriageModel.Load(Save("ltp", "ltp", []));

        var rows = MethodBenchmark.Run([("pfc", combined), ("dense", dense), ("ltp", ltp)], documents, 2048, repetitions: 1, log: null, CancellationToken.None, trainingRepetitions: 1);

        Assert.Equal(["pfc", "dense", "ltp"], rows.Select(r => r.Name));
        var reference = rows.Single(r => r.Method == "dense");
        Assert.Equal(1.0, reference.SpeedUp, 9);
        Assert.Equal(1.0, reference.TokensAttendedRatio, 9);
        Assert.Equal(1.0, reference.Training!.SpeedUp, 9);
        var pfc = rows.Single(r => r.Name == "pfc");
        Assert.True(pfc.TokensAttendedRatio < 1, $"ptc-pfc attended {pfc.TokensAttendedRatio:F2}x of dense");
        Assert.All(rows, r =>
        {
            Assert.Equal(3, r.Profile.LayerMilliseconds.Count);
            Assert.Equal(3, r.Profile.TokensAttendedPerLayer.Count);
            Assert.True(r.DocsPerSecond > 0 && r.Training!.DocsPerSecond > 0);
            Assert.InRange(r.Accuracy, 0, 1);
        });
        // After the combining layer (2), layer 3 attends to the 8 combination tokens only.
        Assert.Equal(8, pfc.Profile.TokensAttendedPerLayer[2], 3);
        // The training pass leaves the models as it found them: eval mode, LTP back in its own stage.
        Assert.False(combined.Network.training);
        Assert.Equal(Triage.Classifier.Pruning.LtpStage.Soft, ((Triage.Classifier.Pruning.LtpStrategy)ltp.Network.Strategy).Stage);
    }
}
