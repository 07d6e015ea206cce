using Triage.Classifier.Checkpoints;
using Triage.Classifier.Modeling;
using Triage.Classifier.Runtime;
using Triage.Classifier.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Triage.Classifier.Models;

/// <summary>
/// A Triage model directory loaded into memory: the HF files (config.json, vocab.txt, model.safetensors) plus
/// triage.json. Loading checks everything and fails with a message naming what is missing or wrong.
/// </summary>
public sealed class TriageModel : IDisposable
{
    public const string ConfigFile = "config.json";
    public const string VocabFile = "vocab.txt";
    public const string WeightsFile = "model.safetensors";

    private TriageModel(string directory, BertConfig config, TriageManifest manifest, WordPieceTokenizer tokenizer, SequenceClassifier network, Device device)
    {
        Directory = directory;
        Config = config;
        Manifest = manifest;
        Tokenizer = tokenizer;
        Network = network;
        Device = device;
    }

    public string Directory { get; }

    public BertConfig Config { get; }

    public TriageManifest Manifest { get; }

    public WordPieceTokenizer Tokenizer { get; }

    public SequenceClassifier Network { get; }

    public Device Device { get; }

    /// <summary>Loads and validates a model directory onto <paramref name="device"/> in eval mode.</summary>
    public static TriageModel Load(string directory, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        TorchRuntime.EnsureInitialized();
        if (!System.IO.Directory.Exists(directory))
        {
            throw new CheckpointException($"Model directory not found: {directory}");
        }

        var missing = new[] { ConfigFile, VocabFile, WeightsFile, TriageManifest.FileName }
            .Where(f => !File.Exists(Path.Combine(directory, f))).ToList();
        if (missing.Count > 0)
        {
            throw new CheckpointException($"{directory}: not a Triage model directory; missing {string.Join(", ", missing)}.");
        }

        var config = BertConfig.Load(Path.Combine(directory, ConfigFile));
        var manifest = TriageManifest.Load(Path.Combine(directory, TriageManifest.FileName));
        var tokenizer = WordPieceTokenizer.Load(Path.Combine(directory, VocabFile));
        if (tokenizer.VocabularySize > config.VocabSize)
        {
            throw new CheckpointException($"{directory}: vocab.txt has {tokenizer.VocabularySize} entries but config.json vocab_size is {config.VocabSize}.");
        }

        if (manifest.LongDocument.MaxTokens > config.MaxPositionEmbeddings)
        {
            throw new CheckpointException(
                $"{directory}: longDocument.maxTokens {manifest.LongDocument.MaxTokens} exceeds max_position_embeddings {config.MaxPositionEmbeddings}.");
        }

        EncoderStrategy strategy;
        try
        {
            strategy = EncoderStrategyFactory.Create(manifest.Method, config);
        }
        catch (ArgumentException ex)
        {
            throw new CheckpointException($"{Path.Combine(directory, TriageManifest.FileName)}: {ex.Message}", ex);
        }

        var network = new SequenceClassifier(config, manifest.Labels.Count, manifest.Pooling, strategy);
        using (var weights = SafeTensorsFile.Open(Path.Combine(directory, WeightsFile)))
        {
            CheckpointLoader.Load(network, weights, "bert.");
        }

        var target = device ?? CPU;
        network.to(target);
        network.eval();
        return new TriageModel(Path.GetFullPath(directory), config, manifest, tokenizer, network, target);
    }

    /// <summary>
    /// Writes a model directory that this loader and Hugging Face transformers (BertForSequenceClassification) can
    /// read. <paramref name="storage"/> F16 halves the size of shipped models; inference still runs in fp32.
    /// </summary>
    public static void Save(string directory, BertConfig config, TriageManifest manifest, string vocabPath, SequenceClassifier network, ScalarType storage = ScalarType.Float32)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(network);
        manifest.Validate(directory);
        System.IO.Directory.CreateDirectory(directory);
        config.Save(Path.Combine(directory, ConfigFile), LabelMapping.ConfigFields(manifest.Labels), "BertForSequenceClassification");
        var vocabTarget = Path.Combine(directory, VocabFile);
        if (!string.Equals(Path.GetFullPath(vocabPath), Path.GetFullPath(vocabTarget), StringComparison.Ordinal))
        {
            File.Copy(vocabPath, vocabTarget, overwrite: true);
        }

        using (var scope = NewDisposeScope())
        {
            var state = CheckpointLoader.StateOf(network)
                .Select(p => new KeyValuePair<string, Tensor>(p.Key, p.Value.dtype == storage ? p.Value : p.Value.detach().to(storage)))
                .ToList();
            SafeTensorsWriter.Write(Path.Combine(directory, WeightsFile), state, new Dictionary<string, string> { ["format"] = "pt" });
        }

        manifest.Save(Path.Combine(directory, TriageManifest.FileName));
    }

    public void Dispose() => Network.Dispose();
}
