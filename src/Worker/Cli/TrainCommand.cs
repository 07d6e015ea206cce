using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Triage.Classifier.Modeling;
using Triage.Classifier.Tokenization;
using Triage.Classifier.Training;
using Triage.Worker.Pipeline;

namespace Triage.Worker.Cli;

/// <summary><c>triage train</c>: fine-tune a classifier on labelled JSONL/CSV and write a Triage model directory.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var data = new Option<FileInfo>("--data") { Description = "Labelled JSONL (id, split, label, text) or CSV with those columns.", Required = true };
        var output = new Option<DirectoryInfo>("--output") { Description = "Model directory to write.", Required = true };
        var baseCheckpoint = new Option<DirectoryInfo?>("--base") { Description = "HF BERT checkpoint to start from. Without it (and without --from-scratch) the project's pre-trained base at models/base is used. A Triage model directory works too: with the same labels its classifier head is kept, so a dense model can be fine-tuned further under a pruning method." };
        var fromScratch = new Option<bool>("--from-scratch") { Description = "Start from random initialisation with --layers/--hidden/--heads/--intermediate and --vocab." };
        var method = new Option<string>("--method") { Description = "Encoder method: dense, ptc-p, ptc-pf, ptc-c, ptc-pfc, ltp.", DefaultValueFactory = _ => "dense" };
        var methodParameters = new Option<string[]>("--method-param") { Description = "Method parameter as key=value (repeatable), e.g. p=0.9, combineLayer=3.", AllowMultipleArgumentsPerToken = true };
        var epochs = new Option<int>("--epochs") { Description = "Most epochs (default 4).", DefaultValueFactory = _ => 4 };
        var learningRate = new Option<double>("--lr") { Description = "Peak learning rate (default 2e-5, the paper's).", DefaultValueFactory = _ => 2e-5 };
        var batchSize = new Option<int>("--batch-size") { Description = "Most documents per batch (default 16).", DefaultValueFactory = _ => 16 };
        var maxBatchTokens = new Option<int>("--max-batch-tokens") { Description = "Padded-token budget per batch (default 8192).", DefaultValueFactory = _ => 16 * 512 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Window length incl. [CLS]/[SEP] (default 512).", DefaultValueFactory = _ => 512 };
        var longDocument = new Option<string>("--long-document") { Description = "Inference policy for long documents: head, head-tail, chunks.", DefaultValueFactory = _ => "head" };
        var pooling = new Option<string>("--pooling") { Description = "mean, cls or pooler (default mean).", DefaultValueFactory = _ => "mean" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 42 };
        var patience = new Option<int>("--patience") { Description = "Early stopping: epochs without a better validation loss (default 2).", DefaultValueFactory = _ => 2 };
        var warmup = new Option<double>("--warmup") { Description = "Warm-up fraction of all steps (default 0.1).", DefaultValueFactory = _ => 0.1 };
        var classWeights = new Option<bool>("--class-weights") { Description = "Weight the loss by inverse class frequency." };
        var modelVersion = new Option<string?>("--model-version") { Description = "Version string written with every result." };
        var storage = new Option<string>("--storage") { Description = "Weight storage dtype: f32 or f16 (inference is fp32 either way).", DefaultValueFactory = _ => "f32" };
        var device = new Option<string>("--device") { DefaultValueFactory = _ => "auto" };
        var threads = new Option<int>("--threads") { Description = "libtorch threads (0 = default).", DefaultValueFactory = _ => 0 };
        var trainLimit = new Option<int?>("--train-limit") { Description = "Use at most N training documents, evenly spaced through the split (covers every label even in a file sorted by label)." };
        var validationLimit = new Option<int?>("--validation-limit") { Description = "Use at most N validation documents, evenly spaced through the split." };
        var shape = new EncoderShapeOptions();
        var vocab = new Option<FileInfo?>("--vocab") { Description = "vocab.txt for --from-scratch." };

        var command = new Command("train", "Fine-tune a classifier and write a Triage model directory (calibrated by temperature scaling).")
        {
            data, output, baseCheckpoint, fromScratch, method, methodParameters, epochs, learningRate, batchSize, maxBatchTokens, maxTokens,
            longDocument, pooling, seed, patience, warmup, classWeights, modelVersion, storage, device, threads, vocab, trainLimit, validationLimit,
        };
        shape.AddTo(command);
        command.SetAction((parse, cancellationToken) =>
        {
            var chosenBase = parse.GetValue(baseCheckpoint)?.FullName;
            var scratch = parse.GetValue(fromScratch);
            if (!scratch && chosenBase is null)
            {
                // Found like Model:Path: from the current directory, else from the directories above the binary.
                chosenBase = ModelPaths.Resolve(Path.Combine("models", "base"));
                if (!Directory.Exists(chosenBase))
                {
                    Console.Error.WriteLine($"No --base given and no pre-trained base at {chosenBase}; pass --base DIR or --from-scratch.");
                    return Task.FromResult(2);
                }
            }

            var request = new TrainRequest
            {
                DataPath = parse.GetValue(data)!.FullName,
                OutputDirectory = parse.GetValue(output)!.FullName,
                BaseCheckpoint = scratch ? null : chosenBase,
                ScratchConfig = scratch
                    ? shape.ToConfig(parse, Math.Max(512, parse.GetValue(maxTokens)), parse.GetValue(vocab)?.FullName)
                    : null,
                VocabPath = parse.GetValue(vocab)?.FullName,
                Method = new MethodSettings(parse.GetValue(method)!, ParseParameters(parse.GetValue(methodParameters) ?? [])),
                Pooling = Enum.Parse<Pooling>(parse.GetValue(pooling)!, ignoreCase: true),
                LongDocument = new LongDocumentPolicy
                {
                    Mode = parse.GetValue(longDocument) switch
                    {
                        "head" => LongDocumentMode.Head,
                        "head-tail" or "head+tail" => LongDocumentMode.HeadTail,
                        "chunks" => LongDocumentMode.Chunks,
                        var other => throw new ArgumentException($"--long-document must be head, head-tail or chunks, got '{other}'."),
                    },
                    MaxTokens = parse.GetValue(maxTokens),
                },
                Options = new FineTuneOptions
                {
                    Epochs = parse.GetValue(epochs),
                    LearningRate = parse.GetValue(learningRate),
                    BatchSize = parse.GetValue(batchSize),
                    MaxBatchTokens = parse.GetValue(maxBatchTokens),
                    MaxTokens = parse.GetValue(maxTokens),
                    Seed = parse.GetValue(seed),
                    Patience = parse.GetValue(patience),
                    WarmupFraction = parse.GetValue(warmup),
                    ClassWeights = parse.GetValue(classWeights),
                },
                ModelVersion = parse.GetValue(modelVersion),
                TrainLimit = parse.GetValue(trainLimit),
                ValidationLimit = parse.GetValue(validationLimit),
                Storage = StorageDType.Parse(parse.GetValue(storage)),
                Device = parse.GetValue(device)!,
                Threads = parse.GetValue(threads),
            };

            using var stop = new StopSignal(cancellationToken);
            var outcome = StepProgressDisplay.Run("train", lineEvery: 10, report => ModelTrainer.Run(request, new ActionProgress<TrainingProgress>(p => report(Describe(p))), stop.Token));
            var f = outcome.FineTune;
            Console.WriteLine($"Saved {outcome.OutputDirectory} (model version {outcome.Manifest.ModelVersion}, method {outcome.Manifest.Method.Name}).");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"train {outcome.TrainDocuments} / validation {outcome.ValidationDocuments} documents; best epoch {f.BestEpoch} of {f.EpochsRun}, validation loss {f.BestValidationLoss:F4}, accuracy {f.ValidationAccuracy:P2}; temperature {f.Temperature:F3}, ECE {f.EceBefore:F4} → {f.EceAfter:F4}"));
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>key=value pairs into the method's JSON parameters (numbers and booleans typed).</summary>
    internal static JsonObject ParseParameters(IEnumerable<string> pairs)
    {
        var parameters = new JsonObject();
        foreach (var pair in pairs)
        {
            var at = pair.IndexOf('=', StringComparison.Ordinal);
            if (at <= 0)
            {
                throw new ArgumentException($"--method-param expects key=value, got '{pair}'.");
            }

            var (key, value) = (pair[..at], pair[(at + 1)..]);
            parameters[key] = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
                ? (value.Contains('.', StringComparison.Ordinal) || value.Contains('e', StringComparison.OrdinalIgnoreCase) ? JsonValue.Create(number) : JsonValue.Create((long)number))
                : bool.TryParse(value, out var flag) ? JsonValue.Create(flag) : JsonValue.Create(value);
        }

        return parameters;
    }

    private static StepStatus Describe(TrainingProgress p) => p.ValidationLoss is { } loss
        ? new StepStatus(p.Step, p.TotalSteps, string.Create(CultureInfo.InvariantCulture, $"epoch {p.Epoch}: validation loss {loss:F4}, accuracy {p.ValidationAccuracy:P2} ({p.Elapsed:hh\\:mm\\:ss})"), Milestone: true)
        : new StepStatus(p.Step, p.TotalSteps, string.Create(CultureInfo.InvariantCulture,
            $"epoch {p.Epoch} loss {p.Loss:F4} lr {p.LearningRate:E2} {p.TokensPerSecond:F0} tok/s"));
}
