using Triage.Classifier.Evaluation;
using Triage.Classifier.Modeling;
using Triage.Classifier.Tokenization;
using static TorchSharp.torch;

namespace Triage.Classifier.Training;

/// <summary>
/// Fine-tuning settings. Defaults follow "Focus on the Core" §4.2: Adam(W) at 2e-5 with linear warm-up, batch 16,
/// the first 512 tokens, keep the checkpoint with the lowest validation loss.
/// </summary>
public sealed record FineTuneOptions
{
    /// <summary>Peak learning rate. Default 2e-5 (the paper's; from-scratch models need far more, e.g. 1e-3).</summary>
    public double LearningRate { get; init; } = 2e-5;

    /// <summary>Fraction of all steps spent warming up linearly; the rest decays linearly to 0. Default 0.1.</summary>
    public double WarmupFraction { get; init; } = 0.1;

    /// <summary>Most documents per batch. Default 16.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Padded-token budget per batch (longest × count). Default 16 × 512.</summary>
    public int MaxBatchTokens { get; init; } = 16 * 512;

    /// <summary>Training window (tokens incl. specials). Default 512.</summary>
    public int MaxTokens { get; init; } = 512;

    public int Epochs { get; init; } = 4;

    /// <summary>Stop after this many epochs without a better validation loss. Default 2.</summary>
    public int Patience { get; init; } = 2;

    public double WeightDecay { get; init; } = 0.01;

    /// <summary>Gradient-norm clipping. Default 1.0.</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    public int Seed { get; init; } = 42;

    /// <summary>Weight the loss by inverse class frequency, for imbalanced data. Default off.</summary>
    public bool ClassWeights { get; init; }

    /// <summary>Extra loss from the strategy (e.g. LTP's λ regulariser), added every step when set.</summary>
    public Func<EncoderStrategy, Tensor?>? AuxiliaryLoss { get; init; }
}

/// <summary>Progress of one training step or evaluation.</summary>
public sealed record TrainingProgress(int Epoch, int Step, int TotalSteps, double Loss, double LearningRate, double TokensPerSecond, TimeSpan Elapsed, double? ValidationLoss = null, double? ValidationAccuracy = null);

/// <summary>What fine-tuning produced.</summary>
public sealed record FineTuneResult(double BestValidationLoss, int BestEpoch, int EpochsRun, double Temperature, double EceBefore, double EceAfter, double ValidationAccuracy);

/// <summary>Supervised fine-tuning of a <see cref="SequenceClassifier"/>, seeded and deterministic on CPU.</summary>
public sealed class FineTuner
{
    private readonly SequenceClassifier _network;
    private readonly WordPieceTokenizer _tokenizer;
    private readonly Device _device;

    public FineTuner(SequenceClassifier network, WordPieceTokenizer tokenizer, Device device)
    {
        _network = network ?? throw new ArgumentNullException(nameof(network));
        _tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        _device = device;
    }

    public FineTuneResult Train(
        IReadOnlyList<LabelledDocument> train,
        IReadOnlyList<LabelledDocument> validation,
        IReadOnlyList<string> labels,
        FineTuneOptions options,
        IProgress<TrainingProgress>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(options);
        if (train.Count == 0 || validation.Count == 0)
        {
            throw new ArgumentException("Training needs documents in both the train and validation splits.");
        }

        random.manual_seed(options.Seed);
        var labelIndex = labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i, StringComparer.Ordinal);
        var policy = new LongDocumentPolicy { MaxTokens = options.MaxTokens };
        var trainSet = Encode(train, labelIndex, policy);
        var validationSet = Encode(validation, labelIndex, policy);

        using var classWeights = options.ClassWeights ? InverseFrequency(trainSet, labels.Count) : null;
        var batchesPerEpoch = MakeBatches(trainSet, options, new Random(options.Seed)).Count;
        var totalSteps = batchesPerEpoch * options.Epochs;
        var warmup = Math.Max(1, (int)(totalSteps * options.WarmupFraction));
        using var optimizer = optim.AdamW(_network.parameters(), options.LearningRate, weight_decay: options.WeightDecay);

        var shuffle = new Random(options.Seed);
        Dictionary<string, Tensor>? best = null;
        var bestLoss = double.PositiveInfinity;
        var bestEpoch = 0;
        var epochsRun = 0;
        var step = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long tokensSeen = 0;
        try
        {
            for (var epoch = 1; epoch <= options.Epochs; epoch++)
            {
                epochsRun = epoch;
                _network.train();
                foreach (var batch in MakeBatches(trainSet, options, shuffle))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    step++;
                    var lr = options.LearningRate * (step <= warmup ? (double)step / warmup : Math.Max(0, (double)(totalSteps - step) / Math.Max(1, totalSteps - warmup)));
                    foreach (var group in optimizer.ParamGroups)
                    {
                        group.LearningRate = lr;
                    }

                    double lossValue;
                    using (var scope = NewDisposeScope())
                    {
                        optimizer.zero_grad();
                        var (ids, mask) = Inference.DocumentClassifier.Batch(batch.Select(e => e.Window).ToList(), _tokenizer.PadId, _device);
                        var target = tensor(batch.Select(e => (long)e.Label).ToArray()).to(_device);
                        using var output = _network.Forward(ids, mask);
                        var loss = nn.functional.cross_entropy(output.Logits, target, classWeights?.to(_device));
                        if (options.AuxiliaryLoss?.Invoke(_network.Strategy) is { } auxiliary)
                        {
                            loss = loss + auxiliary;
                        }

                        loss.backward();
                        nn.utils.clip_grad_norm_(_network.parameters(), options.MaxGradNorm);
                        optimizer.step();
                        lossValue = loss.item<float>();
                        tokensSeen += batch.Sum(e => e.Window.Length);
                    }

                    progress?.Report(new TrainingProgress(epoch, step, totalSteps, lossValue, lr, tokensSeen / Math.Max(1e-9, clock.Elapsed.TotalSeconds), clock.Elapsed));
                }

                var (validationLoss, validationLogits) = Evaluate(validationSet, options);
                var accuracy = Accuracy(validationLogits, validationSet);
                progress?.Report(new TrainingProgress(epoch, step, totalSteps, double.NaN, 0, tokensSeen / Math.Max(1e-9, clock.Elapsed.TotalSeconds), clock.Elapsed, validationLoss, accuracy));
                if (validationLoss < bestLoss)
                {
                    bestLoss = validationLoss;
                    bestEpoch = epoch;
                    DisposeAll(best);
                    best = Snapshot();
                }
                else if (epoch - bestEpoch >= options.Patience)
                {
                    break;
                }
            }

            Restore(best!);
        }
        finally
        {
            DisposeAll(best);
        }

        // Calibrate the kept checkpoint on the validation split (temperature scaling).
        var (_, logits) = Evaluate(validationSet, options);
        var truth = validationSet.Select(e => e.Label).ToList();
        var temperature = TemperatureScaling.Fit(logits, truth);
        var eceBefore = ClassificationReport.ExpectedCalibrationError(truth, logits.Select(l => TemperatureScaling.Softmax(l, 1.0)).ToList());
        var eceAfter = ClassificationReport.ExpectedCalibrationError(truth, logits.Select(l => TemperatureScaling.Softmax(l, temperature)).ToList());
        _network.eval();
        return new FineTuneResult(bestLoss, bestEpoch, epochsRun, temperature, eceBefore, eceAfter, Accuracy(logits, validationSet));
    }

    /// <summary>Validation loss and raw logits, in eval mode, in token-budget batches.</summary>
    public (double Loss, List<double[]> Logits) Evaluate(IReadOnlyList<Example> examples, FineTuneOptions options)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(options);
        _network.eval();
        var logits = new double[examples.Count][];
        double totalLoss = 0;
        using (inference_mode())
        {
            var order = Enumerable.Range(0, examples.Count).OrderBy(i => examples[i].Window.Length).ToList();
            foreach (var chunk in Chunk(order, i => examples[i].Window.Length, options))
            {
                using var scope = NewDisposeScope();
                var (ids, mask) = Inference.DocumentClassifier.Batch(chunk.Select(i => examples[i].Window).ToList(), _tokenizer.PadId, _device);
                var target = tensor(chunk.Select(i => (long)examples[i].Label).ToArray()).to(_device);
                using var output = _network.Forward(ids, mask);
                totalLoss += nn.functional.cross_entropy(output.Logits, target, reduction: nn.Reduction.Sum).item<float>();
                var values = output.Logits.to(ScalarType.Float64).cpu().data<double>().ToArray();
                var classes = (int)output.Logits.shape[1];
                for (var r = 0; r < chunk.Count; r++)
                {
                    logits[chunk[r]] = values.AsSpan(r * classes, classes).ToArray();
                }
            }
        }

        return (totalLoss / examples.Count, logits.ToList());
    }

    /// <summary>One training example: the head window of a document and its label index.</summary>
    public sealed record Example(int[] Window, int Label);

    public List<Example> Encode(IReadOnlyList<LabelledDocument> documents, IReadOnlyDictionary<string, int> labelIndex, LongDocumentPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(labelIndex);
        ArgumentNullException.ThrowIfNull(policy);
        var examples = new Example[documents.Count];
        Parallel.For(0, documents.Count, i =>
        {
            var document = documents[i];
            if (!labelIndex.TryGetValue(document.Label, out var label))
            {
                throw new InvalidDataException($"Document '{document.Id}' has label '{document.Label}', which is not among the model's labels.");
            }

            examples[i] = new Example(policy.Windows(_tokenizer.Encode(document.Text), _tokenizer.ClsId, _tokenizer.SepId)[0], label);
        });
        return [.. examples];
    }

    private static double Accuracy(List<double[]> logits, IReadOnlyList<Example> examples) =>
        (double)Enumerable.Range(0, examples.Count).Count(i => Array.IndexOf(logits[i], logits[i].Max()) == examples[i].Label) / examples.Count;

    /// <summary>
    /// Shuffled, then length-sorted inside pools of 8 batches so padding stays small, then cut by document count and
    /// padded-token budget, and the batch order shuffled again.
    /// </summary>
    private static List<List<Example>> MakeBatches(List<Example> examples, FineTuneOptions options, Random random)
    {
        var order = Enumerable.Range(0, examples.Count).ToArray();
        random.Shuffle(order);
        var batches = new List<List<Example>>();
        foreach (var pool in order.Chunk(options.BatchSize * 8))
        {
            var sorted = pool.OrderBy(i => examples[i].Window.Length).ToList();
            batches.AddRange(Chunk(sorted, i => examples[i].Window.Length, options).Select(c => c.Select(i => examples[i]).ToList()));
        }

        var shuffled = batches.ToArray();
        random.Shuffle(shuffled);
        return [.. shuffled];
    }

    private static IEnumerable<List<int>> Chunk(List<int> sortedByLength, Func<int, int> length, FineTuneOptions options)
    {
        var current = new List<int>();
        var longest = 0;
        foreach (var index in sortedByLength)
        {
            var candidateLongest = Math.Max(longest, length(index));
            if (current.Count > 0 && (current.Count >= options.BatchSize || candidateLongest * (current.Count + 1) > options.MaxBatchTokens))
            {
                yield return current;
                current = [];
                candidateLongest = length(index);
            }

            current.Add(index);
            longest = candidateLongest;
        }

        if (current.Count > 0)
        {
            yield return current;
        }
    }

    private static Tensor InverseFrequency(List<Example> examples, int classes)
    {
        var counts = new double[classes];
        foreach (var e in examples)
        {
            counts[e.Label]++;
        }

        var weights = counts.Select(c => c == 0 ? 0 : examples.Count / (classes * c)).Select(w => (float)w).ToArray();
        return tensor(weights);
    }

    private Dictionary<string, Tensor> Snapshot()
    {
        using var mode = no_grad();
        return _network.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone().DetachFromDisposeScope(), StringComparer.Ordinal);
    }

    private void Restore(Dictionary<string, Tensor> state)
    {
        using var mode = no_grad();
        foreach (var (name, parameter) in _network.named_parameters())
        {
            parameter.copy_(state[name]);
        }
    }

    private static void DisposeAll(Dictionary<string, Tensor>? state)
    {
        if (state is null)
        {
            return;
        }

        foreach (var t in state.Values)
        {
            t.Dispose();
        }

        state.Clear();
    }
}
