using System.Diagnostics;
using System.Text.Json;
using Triage.Classifier.Checkpoints;
using Triage.Classifier.Runtime;
using Triage.Classifier.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Triage.Classifier.Pretraining;

/// <summary>Everything <c>pretrain</c> needs. Defaults: a small BERT that learns something useful in about an hour on 2 cores.</summary>
public sealed record PretrainRequest
{
    /// <summary>JSON Lines with <c>text</c> (and optional <c>split</c>), or a directory of .txt files; several allowed.</summary>
    public required IReadOnlyList<string> Inputs { get; init; }

    public required string OutputDirectory { get; init; }

    /// <summary>Splits used for training (never test). Default train.</summary>
    public IReadOnlySet<string> TrainSplits { get; init; } = new HashSet<string>(StringComparer.Ordinal) { "train" };

    /// <summary>Split held out for the MLM loss/accuracy report. Default validation.</summary>
    public string HeldOutSplit { get; init; } = "validation";

    /// <summary>Continue from this HF checkpoint instead of random initialisation.</summary>
    public string? InitFrom { get; init; }

    /// <summary>Shape for random initialisation.</summary>
    public BertConfig Config { get; init; } = new() { NumHiddenLayers = 4, HiddenSize = 256, NumAttentionHeads = 4, IntermediateSize = 1024, MaxPositionEmbeddings = 512 };

    public required string VocabPath { get; init; }

    public int MaxTokens { get; init; } = 128;

    public int BatchSize { get; init; } = 32;

    public double LearningRate { get; init; } = 5e-4;

    public double WarmupFraction { get; init; } = 0.06;

    public double WeightDecay { get; init; } = 0.01;

    public double MaxGradNorm { get; init; } = 1.0;

    public double MaskProbability { get; init; } = 0.15;

    public bool WholeWordMasking { get; init; }

    public int Epochs { get; init; } = 3;

    /// <summary>Stop after this many optimizer steps (0 = epochs decide).</summary>
    public int MaxSteps { get; init; }

    /// <summary>Stop (with a checkpoint) after this much wall time; null = no limit. Resume continues.</summary>
    public TimeSpan? TimeLimit { get; init; }

    public int CheckpointEvery { get; init; } = 200;

    public int Seed { get; init; } = 42;

    public int Threads { get; init; }

    public string Device { get; init; } = "auto";

    /// <summary>Storage dtype of the exported checkpoint (F16 halves a shipped base); the resume checkpoint stays F32.</summary>
    public ScalarType Storage { get; init; } = ScalarType.Float32;
}

/// <summary>One progress report.</summary>
public sealed record PretrainProgress(int Step, int TotalSteps, double Loss, double Accuracy, double LearningRate, double TokensPerSecond, TimeSpan Elapsed, bool Resumed = false);

/// <summary>Held-out masked-LM figures.</summary>
public sealed record MlmEvaluation(double Loss, double Accuracy, long MaskedTokens);

/// <summary>What a pre-training run did.</summary>
public sealed record PretrainOutcome(int Steps, int TotalSteps, bool Finished, int? ResumedFromStep, MlmEvaluation HeldOut, long TrainSequences);

/// <summary>
/// Masked-LM pre-training of a BERT encoder, writing a Hugging Face checkpoint (BertForMaskedLM layout). Seeded:
/// batch order comes from (seed, epoch), masking and dropout from (seed, step), so a run resumed from a checkpoint
/// takes exactly the steps an uninterrupted run would.
/// </summary>
public static class Pretrainer
{
    private const string CheckpointFolder = "checkpoint";

    public static PretrainOutcome Run(PretrainRequest request, IProgress<PretrainProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        TorchRuntime.EnsureInitialized();
        TorchRuntime.ConfigureThreads(request.Threads);
        var device = TorchRuntime.ResolveDevice(request.Device);
        var config = request.InitFrom is { } init ? BertConfig.Load(Path.Combine(init, "config.json")) : request.Config;
        config.Validate("pre-training configuration");
        if (request.Epochs < 0 || request.MaxSteps < 0)
        {
            throw new ArgumentException($"--epochs ({request.Epochs}) and --max-steps ({request.MaxSteps}) must not be negative.");
        }

        if (request.Epochs == 0 && request.MaxSteps == 0 && request.InitFrom is null)
        {
            // Zero steps only makes sense as an export (e.g. to f16) of an existing checkpoint.
            throw new ArgumentException("--epochs 0 with no --max-steps trains nothing; it is only valid with --init-from (an export).");
        }

        if (request.MaxTokens > config.MaxPositionEmbeddings)
        {
            throw new ArgumentException($"--max-tokens {request.MaxTokens} exceeds max_position_embeddings {config.MaxPositionEmbeddings}.");
        }

        var vocabulary = File.ReadAllLines(request.VocabPath);
        var tokenizer = WordPieceTokenizer.Load(request.VocabPath);
        var train = Pack(request.Inputs, request.TrainSplits, tokenizer, vocabulary, request.MaxTokens);
        var heldOut = Pack(request.Inputs, new HashSet<string>(StringComparer.Ordinal) { request.HeldOutSplit }, tokenizer, vocabulary, request.MaxTokens);
        if (train.Count == 0)
        {
            throw new InvalidDataException("No training text found (check the inputs and --splits).");
        }

        var masker = new MlmMasker(tokenizer.MaskId, config.VocabSize, [tokenizer.ClsId, tokenizer.SepId, tokenizer.PadId], request.MaskProbability, request.WholeWordMasking);
        var batchesPerEpoch = (train.Count + request.BatchSize - 1) / request.BatchSize;
        var totalSteps = request.MaxSteps > 0 ? request.MaxSteps : batchesPerEpoch * request.Epochs;
        var warmup = Math.Max(1, (int)(totalSteps * request.WarmupFraction));

        random.manual_seed(request.Seed);
        using var model = new MaskedLanguageModel(config);
        Modeling.BertInitializer.Apply(model, config.PadTokenId);
        if (request.InitFrom is { } from)
        {
            using var file = SafeTensorsFile.Open(Path.Combine(from, "model.safetensors"));
            CheckpointLoader.Load(model, file, "bert.", key => key.StartsWith("cls.", StringComparison.Ordinal));
        }

        model.to(device);
        using var optimizer = optim.AdamW(model.parameters(), request.LearningRate, weight_decay: request.WeightDecay);
        Directory.CreateDirectory(request.OutputDirectory);
        var checkpoint = Path.Combine(request.OutputDirectory, CheckpointFolder);
        var step = 0;
        int? resumedFrom = null;
        if (File.Exists(Path.Combine(checkpoint, "state.json")))
        {
            step = LoadCheckpoint(checkpoint, model, optimizer, request, totalSteps);
            resumedFrom = step;
            progress?.Report(new PretrainProgress(step, totalSteps, double.NaN, double.NaN, 0, 0, TimeSpan.Zero, Resumed: true));
        }

        var clock = Stopwatch.StartNew();
        long tokens = 0;
        var finished = true;
        while (step < totalSteps)
        {
            if (cancellationToken.IsCancellationRequested || (request.TimeLimit is { } limit && clock.Elapsed >= limit))
            {
                finished = false;
                break;
            }

            var epoch = step / batchesPerEpoch;
            var order = EpochOrder(train.Count, request.Seed, epoch);
            var batch = order.Skip((step % batchesPerEpoch) * request.BatchSize).Take(request.BatchSize).Select(i => train[i]).ToList();
            step++;
            var lr = request.LearningRate * (step <= warmup ? (double)step / warmup : Math.Max(0, (double)(totalSteps - step) / Math.Max(1, totalSteps - warmup)));
            foreach (var group in optimizer.ParamGroups)
            {
                group.LearningRate = lr;
            }

            // Dropout and masking depend only on (seed, step): a resumed run repeats the uninterrupted one.
            random.manual_seed(StepSeed(request.Seed, step));
            var maskRandom = new Random(StepSeed(request.Seed, step));
            model.train();
            double loss, accuracy;
            using (var scope = NewDisposeScope())
            {
                optimizer.zero_grad();
                var (ids, mask, labels) = Collate(batch, masker, maskRandom, tokenizer.PadId, device);
                var result = model.Forward(ids, mask, labels);
                result.Loss.backward();
                nn.utils.clip_grad_norm_(model.parameters(), request.MaxGradNorm);
                optimizer.step();
                loss = result.Loss.item<float>();
                accuracy = result.Masked == 0 ? 0 : (double)result.Correct / result.Masked;
                tokens += batch.Sum(s => s.Ids.Length);
            }

            progress?.Report(new PretrainProgress(step, totalSteps, loss, accuracy, lr, tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds), clock.Elapsed));
            if (step % request.CheckpointEvery == 0 && step < totalSteps)
            {
                SaveCheckpoint(checkpoint, model, optimizer, step, request, totalSteps);
            }
        }

        if (!finished)
        {
            SaveCheckpoint(checkpoint, model, optimizer, step, request, totalSteps);
        }

        var evaluation = Evaluate(model, heldOut, masker, request.Seed, request.BatchSize, tokenizer.PadId, device);
        SaveHuggingFace(request.OutputDirectory, model, config, request.VocabPath, request.Storage);
        var outcome = new PretrainOutcome(step, totalSteps, finished, resumedFrom, evaluation, train.Count);
        File.WriteAllText(Path.Combine(request.OutputDirectory, "pretrain.json"), JsonSerializer.Serialize(new
        {
            steps = step,
            total_steps = totalSteps,
            finished,
            train_sequences = train.Count,
            max_tokens = request.MaxTokens,
            batch_size = request.BatchSize,
            learning_rate = request.LearningRate,
            seed = request.Seed,
            held_out_split = request.HeldOutSplit,
            // null when the held-out split had no text (e.g. --held-out-split none for a plain export); JSON has no NaN.
            held_out_mlm_loss = double.IsNaN(evaluation.Loss) ? (double?)null : evaluation.Loss,
            held_out_mlm_accuracy = double.IsNaN(evaluation.Accuracy) ? (double?)null : evaluation.Accuracy,
            held_out_masked_tokens = evaluation.MaskedTokens,
        }, new JsonSerializerOptions { WriteIndented = true }));
        if (finished && Directory.Exists(checkpoint))
        {
            Directory.Delete(checkpoint, recursive: true);
        }

        return outcome;
    }

    /// <summary>Held-out MLM loss and accuracy with a fixed masking seed, so runs are comparable.</summary>
    public static MlmEvaluation Evaluate(MaskedLanguageModel model, IReadOnlyList<PackedSequence> sequences, MlmMasker masker, int seed, int batchSize, int padId, Device device)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sequences);
        model.eval();
        var maskRandom = new Random(seed + 7919);
        double lossSum = 0;
        long correct = 0, masked = 0;
        using (inference_mode())
        {
            foreach (var batch in sequences.Chunk(batchSize))
            {
                using var scope = NewDisposeScope();
                var (ids, mask, labels) = Collate(batch, masker, maskRandom, padId, device);
                var result = model.Forward(ids, mask, labels);
                lossSum += result.Loss.item<float>() * result.Masked;
                correct += result.Correct;
                masked += result.Masked;
            }
        }

        return masked == 0 ? new MlmEvaluation(double.NaN, double.NaN, 0) : new MlmEvaluation(lossSum / masked, (double)correct / masked, masked);
    }

    internal static List<PackedSequence> Pack(IReadOnlyList<string> inputs, IReadOnlySet<string> splits, WordPieceTokenizer tokenizer, IReadOnlyList<string> vocabulary, int maxTokens)
    {
        var texts = inputs.SelectMany(i => UnlabelledCorpus.Read(i, splits)).ToList();
        var documents = new IReadOnlyList<int>[texts.Count];
        Parallel.For(0, texts.Count, i => documents[i] = tokenizer.Encode(texts[i]));
        return SequencePacker.Pack(documents, tokenizer, vocabulary, maxTokens);
    }

    private static int[] EpochOrder(int count, int seed, int epoch)
    {
        var order = Enumerable.Range(0, count).ToArray();
        new Random(StepSeed(seed, -1 - epoch)).Shuffle(order);
        return order;
    }

    private static int StepSeed(int seed, int step) => HashCode.Combine(seed, step) & int.MaxValue;

    private static (Tensor Ids, Tensor Mask, Tensor Labels) Collate(IReadOnlyList<PackedSequence> batch, MlmMasker masker, Random random, int padId, Device device)
    {
        var longest = batch.Max(s => s.Ids.Length);
        var ids = new long[batch.Count * longest];
        var labels = new long[batch.Count * longest];
        var mask = new bool[batch.Count * longest];
        Array.Fill(ids, padId);
        Array.Fill(labels, -100L);
        for (var row = 0; row < batch.Count; row++)
        {
            var (inputs, rowLabels) = masker.Mask(batch[row], random);
            inputs.CopyTo(ids, row * longest);
            rowLabels.CopyTo(labels, row * longest);
            Array.Fill(mask, true, row * longest, inputs.Length);
        }

        return (tensor(ids, [batch.Count, longest]).to(device), tensor(mask, [batch.Count, longest]).to(device), tensor(labels, [batch.Count, longest]).to(device));
    }

    private static void SaveHuggingFace(string directory, MaskedLanguageModel model, BertConfig config, string vocabPath, ScalarType storage)
    {
        config.Save(Path.Combine(directory, "config.json"), architecture: "BertForMaskedLM");
        var vocabTarget = Path.Combine(directory, "vocab.txt");
        if (!string.Equals(Path.GetFullPath(vocabPath), Path.GetFullPath(vocabTarget), StringComparison.Ordinal))
        {
            File.Copy(vocabPath, vocabTarget, overwrite: true);
        }

        using var scope = NewDisposeScope();
        SafeTensorsWriter.Write(Path.Combine(directory, "model.safetensors"),
            CheckpointLoader.StateOf(model).Select(p => new KeyValuePair<string, Tensor>(p.Key, p.Value.detach().cpu().to(p.Value.is_floating_point() ? storage : p.Value.dtype))),
            new Dictionary<string, string> { ["format"] = "pt" });
    }

    private static void SaveCheckpoint(string directory, MaskedLanguageModel model, TorchSharp.Modules.AdamW optimizer, int step, PretrainRequest request, int totalSteps)
    {
        // Written beside and swapped in, so a kill during the save leaves the previous checkpoint intact.
        var temporary = directory + ".tmp";
        if (Directory.Exists(temporary))
        {
            Directory.Delete(temporary, recursive: true);
        }

        Directory.CreateDirectory(temporary);
        using (var scope = NewDisposeScope())
        {
            SafeTensorsWriter.Write(Path.Combine(temporary, "model.safetensors"), CheckpointLoader.StateOf(model).Select(p => new KeyValuePair<string, Tensor>(p.Key, p.Value.detach().cpu())));
        }

        optimizer.save_state_dict(Path.Combine(temporary, "optimizer.bin"));
        File.WriteAllText(Path.Combine(temporary, "state.json"), JsonSerializer.Serialize(new CheckpointState(step, totalSteps, request.Seed, request.BatchSize, request.MaxTokens)));
        var old = directory + ".old";
        if (Directory.Exists(directory))
        {
            if (Directory.Exists(old))
            {
                Directory.Delete(old, recursive: true);
            }

            Directory.Move(directory, old);
        }

        Directory.Move(temporary, directory);
        if (Directory.Exists(old))
        {
            Directory.Delete(old, recursive: true);
        }
    }

    private static int LoadCheckpoint(string directory, MaskedLanguageModel model, TorchSharp.Modules.AdamW optimizer, PretrainRequest request, int totalSteps)
    {
        var state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(Path.Combine(directory, "state.json")))
            ?? throw new InvalidDataException($"{directory}/state.json is empty.");
        if (state.Seed != request.Seed || state.BatchSize != request.BatchSize || state.MaxTokens != request.MaxTokens || state.TotalSteps != totalSteps)
        {
            throw new InvalidOperationException(
                $"The checkpoint in {directory} was made with seed {state.Seed}, batch {state.BatchSize}, max tokens {state.MaxTokens}, {state.TotalSteps} steps; " +
                "resume with the same settings, or delete that folder to start over.");
        }

        using (var file = SafeTensorsFile.Open(Path.Combine(directory, "model.safetensors")))
        {
            CheckpointLoader.Load(model, file, "bert.");
        }

        optimizer.load_state_dict(Path.Combine(directory, "optimizer.bin"));
        return state.Step;
    }

    private sealed record CheckpointState(int Step, int TotalSteps, int Seed, int BatchSize, int MaxTokens);
}
