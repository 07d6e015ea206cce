using Triage.Classifier.Checkpoints;
using Triage.Classifier.Inference;
using Triage.Classifier.Models;
using Triage.Classifier.Modeling;
using Triage.Classifier.Tests.Support;
using Triage.Classifier.Tokenization;
using static TorchSharp.torch;

namespace Triage.Classifier.Tests;

public sealed class ModelDirectoryTests
{
    private static readonly string[] Labels = ["business", "sport", "tech"];

    /// <summary>A Triage model built from the parity-a encoder with a freshly initialised head.</summary>
    internal static string CreateModel(string directory, LongDocumentPolicy? policy = null, ScalarType storage = ScalarType.Float32)
    {
        var source = SharedAssets.Models("parity-a");
        var config = BertConfig.Load(Path.Combine(source, "config.json"));
        using var network = new SequenceClassifier(config, Labels.Length, Pooling.Mean, new DenseStrategy());
        using (var file = SafeTensorsFile.Open(Path.Combine(source, "model.safetensors")))
        {
            CheckpointLoader.Load(network, file, "bert.", key => key.StartsWith("classifier.", StringComparison.Ordinal));
        }

        var manifest = new TriageManifest
        {
            ModelVersion = "test-parity-a-1",
            Labels = Labels,
            LongDocument = policy ?? new LongDocumentPolicy(),
            Temperature = 1.5,
        };
        TriageModel.Save(directory, config, manifest, Path.Combine(source, "vocab.txt"), network, storage);
        return directory;
    }

    [Fact]
    public void Save_and_load_round_trip_is_bit_identical()
    {
        using var dir = new TempDirectory();
        CreateModel(dir.Path);
        using var first = TriageModel.Load(dir.Path);
        using var second = Reload(first, dir.Path);
        foreach (var ((name, a), (_, b)) in first.Network.named_parameters().Zip(second.Network.named_parameters()))
        {
            Assert.True(a.bytes.SequenceEqual(b.bytes), name);
        }

        Assert.Equal(first.Manifest.Labels, second.Manifest.Labels);
        Assert.Equal(1.5, second.Manifest.Temperature);
        Assert.Equal("test-parity-a-1", second.Manifest.ModelVersion);
        Assert.True(File.ReadAllText(Path.Combine(dir.Path, "config.json")).Contains("\"id2label\"", StringComparison.Ordinal));
    }

    private static TriageModel Reload(TriageModel model, string path)
    {
        using var again = new TempDirectory();
        TriageModel.Save(again.Path, model.Config, model.Manifest, Path.Combine(path, "vocab.txt"), model.Network);
        return TriageModel.Load(again.Path);
    }

    [Fact]
    public void Missing_files_are_listed()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("config.json"), "{}");
        var ex = Assert.Throws<CheckpointException>(() => TriageModel.Load(dir.Path));
        Assert.Contains("vocab.txt", ex.Message, StringComparison.Ordinal);
        Assert.Contains("model.safetensors", ex.Message, StringComparison.Ordinal);
        Assert.Contains("triage.json", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_method_in_manifest_is_named()
    {
        using var dir = new TempDirectory();
        CreateModel(dir.Path);
        var manifest = File.ReadAllText(dir.File("triage.json")).Replace("\"dense\"", "\"magic\"", StringComparison.Ordinal);
        File.WriteAllText(dir.File("triage.json"), manifest);
        var ex = Assert.Throws<CheckpointException>(() => TriageModel.Load(dir.Path));
        Assert.Contains("method.name 'magic'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Batch_classification_matches_one_by_one_and_chunks_cover_long_documents()
    {
        using var dir = new TempDirectory();
        CreateModel(dir.Path, new LongDocumentPolicy { Mode = LongDocumentMode.Chunks, MaxTokens = 64, ChunkOverlap = 16 }, ScalarType.Float16);
        using var model = TriageModel.Load(dir.Path);
        var classifier = new DocumentClassifier(model);
        var texts = new[] { "Shares rose.", string.Join(' ', Enumerable.Repeat("the match ended in a late winner for the home side", 20)), "New chips." };
        var prepared = texts.Select(classifier.Prepare).ToList();
        Assert.True(prepared[1].Windows.Count > 2);
        var batch = classifier.Classify(prepared);
        for (var i = 0; i < texts.Length; i++)
        {
            var alone = classifier.Classify([prepared[i]])[0];
            Assert.Equal(alone.Label, batch[i].Label);
            Assert.Equal(alone.Confidence, batch[i].Confidence, 5);
            Assert.Equal(1.0, batch[i].Probabilities.Values.Sum(), 5);
            Assert.Equal(prepared[i].InputTokens, batch[i].InputTokens);
            Assert.True(batch[i].TokensAttended > 0 && batch[i].TokensAttended <= batch[i].InputTokens);
        }
    }
}
