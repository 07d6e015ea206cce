using Triage.Classifier.Checkpoints;
using Triage.Classifier.Models;
using Triage.Classifier.Modeling;
using Triage.Classifier.Pruning;
using Triage.Classifier.Runtime;
using Triage.Classifier.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Triage.Classifier.Training;

/// <summary>Everything <c>train</c> needs.</summary>
public sealed record TrainRequest
{
    public required string DataPath { get; init; }

    public required string OutputDirectory { get; init; }

    /// <summary>HF BERT checkpoint (or Triage model) to start from; null = train from random initialisation with <see cref="ScratchConfig"/>.</summary>
    public string? BaseCheckpoint { get; init; }

    /// <summary>Encoder shape when there is no base checkpoint.</summary>
    public BertConfig? ScratchConfig { get; init; }

    /// <summary>vocab.txt for a from-scratch model (a base checkpoint brings its own).</summary>
    public string? VocabPath { get; init; }

    public MethodSettings Method { get; init; } = MethodSettings.Dense;

    public Pooling Pooling { get; init; } = Pooling.Mean;

    public LongDocumentPolicy LongDocument { get; init; } = new();

    public FineTuneOptions Options { get; init; } = new();

    public string? ModelVersion { get; init; }

    /// <summary>Use at most this many training documents, evenly spaced through the split (quick runs on big datasets).</summary>
    public int? TrainLimit { get; init; }

    /// <summary>Use at most this many validation documents, evenly spaced through the split.</summary>
    public int? ValidationLimit { get; init; }

    /// <summary>Storage dtype of the saved weights (F16 halves shipped models; inference runs in fp32).</summary>
    public ScalarType Storage { get; init; } = ScalarType.Float32;

    public string Device { get; init; } = "auto";

    public int Threads { get; init; }
}

/// <summary>What <c>train</c> reports.</summary>
public sealed record TrainOutcome(string OutputDirectory, TriageManifest Manifest, FineTuneResult FineTune, int TrainDocuments, int ValidationDocuments);

/// <summary>Builds a network from a base checkpoint or from scratch, fine-tunes, calibrates and saves a Triage model.</summary>
public static class ModelTrainer
{
    public static TrainOutcome Run(TrainRequest request, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        TorchRuntime.EnsureInitialized();
        TorchRuntime.ConfigureThreads(request.Threads);
        var device = TorchRuntime.ResolveDevice(request.Device);
        var dataset = LabelledDataset.Load(request.DataPath, request.Options.Seed);
        var labels = dataset.Labels;

        BertConfig config;
        string vocab;
        if (request.BaseCheckpoint is { } baseDirectory)
        {
            config = BertConfig.Load(Path.Combine(baseDirectory, "config.json"));
            vocab = Path.Combine(baseDirectory, "vocab.txt");
        }
        else
        {
            config = request.ScratchConfig ?? throw new ArgumentException("Either a base checkpoint or a from-scratch encoder configuration is required.");
            vocab = request.VocabPath ?? throw new ArgumentException("A from-scratch model needs a vocabulary (--vocab).");
        }

        config.Validate("encoder configuration");
        var tokenizer = WordPieceTokenizer.Load(vocab);
        random.manual_seed(request.Options.Seed);
        var strategy = EncoderStrategyFactory.Create(request.Method, config);
        using var network = new SequenceClassifier(config, labels.Count, request.Pooling, strategy);
        BertInitializer.Apply(network, config.PadTokenId);
        if (request.BaseCheckpoint is { } from)
        {
            using var weights = SafeTensorsFile.Open(Path.Combine(from, "model.safetensors"));
            // A Triage model with the same labels and pooling keeps its head (and pooler): fine-tuning a dense model
            // further under a pruning method continues from a classifier, not from a fresh head. The method's own
            // parameters carry over only from a model of the same method; otherwise they start from initialisation.
            var baseManifest = File.Exists(Path.Combine(from, TriageManifest.FileName)) ? TriageManifest.Load(Path.Combine(from, TriageManifest.FileName)) : null;
            var keepHead = baseManifest is not null && baseManifest.Labels.SequenceEqual(labels, StringComparer.Ordinal) && baseManifest.Pooling == request.Pooling;
            var keepStrategy = baseManifest is not null && baseManifest.Method.Name == request.Method.Name;
            bool Fresh(string key) => (!keepHead && (key.StartsWith("classifier.", StringComparison.Ordinal) || key.StartsWith("bert.pooler.", StringComparison.Ordinal)))
                || (!keepStrategy && key.StartsWith("strategy.", StringComparison.Ordinal));
            // The encoder must be complete; what starts fresh is neither required nor loaded.
            CheckpointLoader.Load(network, weights, "bert.", skip: Fresh);
            if (!keepStrategy)
            {
                // PTC's combining module may start from the attention weights of the layer it replaces.
                (strategy as IEncoderWarmStart)?.WarmStart(network.Bert.Layers);
            }
        }

        network.to(device);
        var train = LabelledDataset.EvenlySpaced(dataset.Split("train"), request.TrainLimit);
        var validation = LabelledDataset.EvenlySpaced(dataset.Split("validation"), request.ValidationLimit);
        var tuner = new FineTuner(network, tokenizer, device);
        var options = request.Options with
        {
            MaxTokens = Math.Min(request.Options.MaxTokens, request.LongDocument.MaxTokens),
            // LTP's λ·(mean soft-mask) regulariser; other methods add nothing.
            AuxiliaryLoss = request.Options.AuxiliaryLoss ?? (s => (s as LtpStrategy)?.TakeRegularizationLoss()),
        };
        var result = tuner.Train(train, validation, labels, options, progress, cancellationToken);
        if (strategy is LtpStrategy ltp)
        {
            // LTP stage 2: fix the learned thresholds as hard cuts (tokens physically dropped) and fine-tune the
            // weights again under them, as the LTP paper does.
            ltp.Stage = LtpStage.Hard;
            ltp.Thresholds.requires_grad = false;
            result = tuner.Train(train, validation, labels, options with { Epochs = Math.Max(1, options.Epochs / 2) }, progress, cancellationToken);
        }

        var manifest = new TriageManifest
        {
            ModelVersion = request.ModelVersion ?? $"{Path.GetFileName(Path.GetFullPath(request.OutputDirectory))}-{request.Method.Name}-{DateTime.UtcNow:yyyyMMddHHmm}",
            Labels = labels,
            Pooling = request.Pooling,
            Method = request.Method,
            LongDocument = request.LongDocument,
            Temperature = result.Temperature,
            TrainingDataSha256 = dataset.Sha256,
            BaseCheckpoint = request.BaseCheckpoint is null ? "random-init" : Path.GetFullPath(request.BaseCheckpoint),
            CreatedAt = DateTimeOffset.UtcNow,
        };
        network.to(CPU);
        TriageModel.Save(request.OutputDirectory, config, manifest, vocab, network, request.Storage);
        return new TrainOutcome(request.OutputDirectory, manifest, result, train.Count, validation.Count);
    }
}
