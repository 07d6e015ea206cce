using System.CommandLine;
using System.Globalization;
using Triage.Classifier.Pretraining;

namespace Triage.Worker.Cli;

/// <summary><c>triage pretrain</c>: masked-LM pre-training on unlabelled text, writing a Hugging Face BERT checkpoint.</summary>
internal static class PretrainCommand
{
    public static Command Create()
    {
        var inputs = new Option<string[]>("--input") { Description = "JSONL with 'text' (and 'split') or a directory of .txt files; repeatable.", Required = true, AllowMultipleArgumentsPerToken = true };
        var output = new Option<DirectoryInfo>("--output") { Description = "Checkpoint directory to write (and resume from).", Required = true };
        var splits = new Option<string>("--splits") { Description = "Comma-separated splits to train on (never test). Default train.", DefaultValueFactory = _ => "train" };
        var heldOut = new Option<string>("--held-out-split") { Description = "Split for the held-out MLM loss/accuracy at the end (a split with no text, e.g. none, skips it).", DefaultValueFactory = _ => "validation" };
        var initFrom = new Option<DirectoryInfo?>("--init-from") { Description = "Continue pre-training an existing HF BERT checkpoint." };
        var vocab = new Option<FileInfo?>("--vocab") { Description = "vocab.txt (default: the --init-from checkpoint's)." };
        var shape = new EncoderShapeOptions();
        var maxPositions = new Option<int>("--max-positions") { DefaultValueFactory = _ => 512 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Packed sequence length (default 128).", DefaultValueFactory = _ => 128 };
        var batchSize = new Option<int>("--batch-size") { DefaultValueFactory = _ => 32 };
        var learningRate = new Option<double>("--lr") { DefaultValueFactory = _ => 5e-4 };
        var warmup = new Option<double>("--warmup") { DefaultValueFactory = _ => 0.06 };
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 3 };
        var maxSteps = new Option<int>("--max-steps") { Description = "Total optimizer steps (0 = epochs decide).", DefaultValueFactory = _ => 0 };
        var timeLimit = new Option<double?>("--max-minutes") { Description = "Stop with a checkpoint after this many minutes; run again to continue." };
        var wholeWord = new Option<bool>("--whole-word-masking") { Description = "Mask all pieces of a chosen word together." };
        var checkpointEvery = new Option<int>("--checkpoint-every") { DefaultValueFactory = _ => 200 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 42 };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 0 };
        var device = new Option<string>("--device") { DefaultValueFactory = _ => "auto" };
        var storage = new Option<string>("--storage") { Description = "Weight dtype of the exported checkpoint: f32 or f16 (the resume checkpoint is always f32).", DefaultValueFactory = _ => "f32" };
        var command = new Command("pretrain", "Masked-language-model pre-training (resumes from <output>/checkpoint after a kill).")
        {
            inputs, output, splits, heldOut, initFrom, vocab, maxPositions, maxTokens, batchSize,
            learningRate, warmup, epochs, maxSteps, timeLimit, wholeWord, checkpointEvery, seed, threads, device, storage,
        };
        shape.AddTo(command);
        command.SetAction((parse, cancellationToken) =>
        {
            var init = parse.GetValue(initFrom)?.FullName;
            var vocabPath = parse.GetValue(vocab)?.FullName ?? (init is null ? null : Path.Combine(init, "vocab.txt"))
                ?? throw new ArgumentException("--vocab is required when not continuing from --init-from.");
            var request = new PretrainRequest
            {
                Inputs = parse.GetValue(inputs)!,
                OutputDirectory = parse.GetValue(output)!.FullName,
                TrainSplits = parse.GetValue(splits)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal),
                HeldOutSplit = parse.GetValue(heldOut)!,
                InitFrom = init,
                VocabPath = vocabPath,
                Config = shape.ToConfig(parse, parse.GetValue(maxPositions), vocabPath),
                MaxTokens = parse.GetValue(maxTokens),
                BatchSize = parse.GetValue(batchSize),
                LearningRate = parse.GetValue(learningRate),
                WarmupFraction = parse.GetValue(warmup),
                Epochs = parse.GetValue(epochs),
                MaxSteps = parse.GetValue(maxSteps),
                TimeLimit = parse.GetValue(timeLimit) is { } minutes ? TimeSpan.FromMinutes(minutes) : null,
                WholeWordMasking = parse.GetValue(wholeWord),
                CheckpointEvery = parse.GetValue(checkpointEvery),
                Seed = parse.GetValue(seed),
                Threads = parse.GetValue(threads),
                Device = parse.GetValue(device)!,
                Storage = StorageDType.Parse(parse.GetValue(storage)),
            };
            using var stop = new StopSignal(cancellationToken);
            var outcome = StepProgressDisplay.Run("pretrain", lineEvery: 20, report => Pretrainer.Run(request, new ActionProgress<PretrainProgress>(p => report(Describe(p))), stop.Token));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{(outcome.Finished ? "finished" : "stopped (run again to resume)")} at step {outcome.Steps}/{outcome.TotalSteps} on {outcome.TrainSequences} sequences; held-out MLM loss {outcome.HeldOut.Loss:F4}, accuracy {outcome.HeldOut.Accuracy:P2} over {outcome.HeldOut.MaskedTokens} masked tokens"));
            return Task.FromResult(0);
        });
        return command;
    }

    private static StepStatus Describe(PretrainProgress p) => p.Resumed
        ? new StepStatus(p.Step, p.TotalSteps, $"resuming from step {p.Step}/{p.TotalSteps}", Milestone: true)
        : new StepStatus(p.Step, p.TotalSteps, string.Create(CultureInfo.InvariantCulture,
            $"loss {p.Loss:F4} mlm-acc {p.Accuracy:P1} lr {p.LearningRate:E2} {p.TokensPerSecond:F0} tok/s"));
}
