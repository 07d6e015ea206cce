namespace Triage.Classifier.Evaluation;

/// <summary>
/// Temperature scaling (Guo et al. 2017): the single T > 0 minimising validation negative log-likelihood of
/// softmax(logits / T). One parameter, so a golden-section search over log T is exact enough and deterministic.
/// </summary>
public static class TemperatureScaling
{
    public static double Fit(IReadOnlyList<double[]> logits, IReadOnlyList<int> truth, double min = 0.05, double max = 20)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(truth);
        if (logits.Count == 0)
        {
            return 1.0;
        }

        double lo = Math.Log(min), hi = Math.Log(max);
        var ratio = (Math.Sqrt(5) - 1) / 2;
        var x1 = hi - (ratio * (hi - lo));
        var x2 = lo + (ratio * (hi - lo));
        var f1 = NegativeLogLikelihood(logits, truth, Math.Exp(x1));
        var f2 = NegativeLogLikelihood(logits, truth, Math.Exp(x2));
        for (var i = 0; i < 80; i++)
        {
            if (f1 < f2)
            {
                (hi, x2, f2) = (x2, x1, f1);
                x1 = hi - (ratio * (hi - lo));
                f1 = NegativeLogLikelihood(logits, truth, Math.Exp(x1));
            }
            else
            {
                (lo, x1, f1) = (x1, x2, f2);
                x2 = lo + (ratio * (hi - lo));
                f2 = NegativeLogLikelihood(logits, truth, Math.Exp(x2));
            }
        }

        return Math.Exp((lo + hi) / 2);
    }

    public static double[] Softmax(double[] logits, double temperature)
    {
        ArgumentNullException.ThrowIfNull(logits);
        var max = logits.Max();
        var exp = logits.Select(l => Math.Exp((l - max) / temperature)).ToArray();
        var sum = exp.Sum();
        return exp.Select(e => e / sum).ToArray();
    }

    public static double NegativeLogLikelihood(IReadOnlyList<double[]> logits, IReadOnlyList<int> truth, double temperature)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(truth);
        double total = 0;
        for (var i = 0; i < logits.Count; i++)
        {
            var scaled = logits[i].Select(l => l / temperature).ToArray();
            var max = scaled.Max();
            var logSum = max + Math.Log(scaled.Sum(s => Math.Exp(s - max)));
            total += logSum - scaled[truth[i]];
        }

        return total / logits.Count;
    }
}
