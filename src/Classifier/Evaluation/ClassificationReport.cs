namespace Triage.Classifier.Evaluation;

/// <summary>Precision, recall and F1 of one class.</summary>
public sealed record ClassScores(string Label, double Precision, double Recall, double F1, int Support);

/// <summary>One confidence bin of a reliability diagram.</summary>
public sealed record ReliabilityBin(double Lower, double Upper, double Confidence, double Accuracy, int Count);

/// <summary>Quality figures of a model on a labelled split.</summary>
public sealed record ClassificationReport(
    int Documents,
    double Accuracy,
    double MacroF1,
    double MicroF1,
    double Ece,
    IReadOnlyList<ClassScores> PerClass,
    int[][] ConfusionMatrix,
    IReadOnlyList<string> Labels,
    IReadOnlyList<ReliabilityBin> ReliabilityBins)
{
    /// <summary>Bins for expected calibration error (Guo et al. 2017 use 15).</summary>
    public const int EceBins = 15;

    /// <param name="labels">Class names in index order.</param>
    /// <param name="truth">True class index per document.</param>
    /// <param name="probabilities">Per document, the probability of each class.</param>
    public static ClassificationReport Compute(IReadOnlyList<string> labels, IReadOnlyList<int> truth, IReadOnlyList<double[]> probabilities)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(truth);
        ArgumentNullException.ThrowIfNull(probabilities);
        var classes = labels.Count;
        var confusion = Enumerable.Range(0, classes).Select(_ => new int[classes]).ToArray();
        var predicted = probabilities.Select(ArgMax).ToArray();
        for (var i = 0; i < truth.Count; i++)
        {
            confusion[truth[i]][predicted[i]]++;
        }

        var perClass = new List<ClassScores>();
        for (var c = 0; c < classes; c++)
        {
            var tp = confusion[c][c];
            var fp = Enumerable.Range(0, classes).Sum(r => r == c ? 0 : confusion[r][c]);
            var fn = Enumerable.Range(0, classes).Sum(p => p == c ? 0 : confusion[c][p]);
            var precision = tp + fp == 0 ? 0 : (double)tp / (tp + fp);
            var recall = tp + fn == 0 ? 0 : (double)tp / (tp + fn);
            var f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            perClass.Add(new ClassScores(labels[c], precision, recall, f1, tp + fn));
        }

        var correct = Enumerable.Range(0, truth.Count).Count(i => truth[i] == predicted[i]);
        var accuracy = truth.Count == 0 ? 0 : (double)correct / truth.Count;
        // Single-label classification: micro-F1 equals accuracy (every error is one FP and one FN).
        return new ClassificationReport(truth.Count, accuracy, perClass.Average(s => s.F1), accuracy,
            ExpectedCalibrationError(truth, probabilities), perClass, confusion, labels, Reliability(truth, probabilities));
    }

    /// <summary>ECE with equal-width confidence bins: Σ |bin| / n · |accuracy(bin) − confidence(bin)|.</summary>
    public static double ExpectedCalibrationError(IReadOnlyList<int> truth, IReadOnlyList<double[]> probabilities, int bins = EceBins)
    {
        var reliability = Reliability(truth, probabilities, bins);
        var n = reliability.Sum(b => b.Count);
        return n == 0 ? 0 : reliability.Where(b => b.Count > 0).Sum(b => (double)b.Count / n * Math.Abs(b.Accuracy - b.Confidence));
    }

    /// <summary>The reliability diagram's bins: per equal-width confidence bin, the mean confidence of the predicted class,
    /// the share of those predictions that were right, and how many fell in it.</summary>
    public static IReadOnlyList<ReliabilityBin> Reliability(IReadOnlyList<int> truth, IReadOnlyList<double[]> probabilities, int bins = EceBins)
    {
        ArgumentNullException.ThrowIfNull(truth);
        ArgumentNullException.ThrowIfNull(probabilities);
        var count = new int[bins];
        var confidenceSum = new double[bins];
        var correctSum = new double[bins];
        for (var i = 0; i < truth.Count; i++)
        {
            var p = probabilities[i];
            var best = ArgMax(p);
            var bin = Math.Min(bins - 1, (int)(p[best] * bins));
            count[bin]++;
            confidenceSum[bin] += p[best];
            correctSum[bin] += best == truth[i] ? 1 : 0;
        }

        return Enumerable.Range(0, bins).Select(b => new ReliabilityBin(
            (double)b / bins,
            (double)(b + 1) / bins,
            count[b] == 0 ? 0 : confidenceSum[b] / count[b],
            count[b] == 0 ? 0 : correctSum[b] / count[b],
            count[b])).ToList();
    }

    private static int ArgMax(double[] values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }
}
