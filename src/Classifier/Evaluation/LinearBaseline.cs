using System.Text.RegularExpressions;
using Triage.Classifier.Training;
using static TorchSharp.torch;

namespace Triage.Classifier.Evaluation;

/// <summary>Settings of the TF-IDF + logistic-regression baseline.</summary>
public sealed record LinearBaselineOptions
{
    /// <summary>A term must occur in at least this many training documents. Default 2.</summary>
    public int MinDocumentFrequency { get; init; } = 2;

    /// <summary>Most features kept, by document frequency. Default 50 000.</summary>
    public int MaxFeatures { get; init; } = 50_000;

    /// <summary>Use word bigrams as well as unigrams. Default true.</summary>
    public bool Bigrams { get; init; } = true;

    /// <summary>L2 penalty on the weights. Default 1e-4.</summary>
    public double L2 { get; init; } = 1e-4;

    /// <summary>Full-batch Adam iterations. Default 300.</summary>
    public int Iterations { get; init; } = 300;

    public double LearningRate { get; init; } = 0.05;

    public int Seed { get; init; } = 42;
}

/// <summary>
/// The linear baseline to beat: sublinear TF-IDF over lower-cased word uni/bigrams, L2-normalised, then multinomial
/// logistic regression trained full-batch (Adam + L2) on the train split, the iteration count picked on validation.
/// </summary>
public sealed partial class LinearBaseline
{
    private readonly Dictionary<string, int> _features;
    private readonly float[] _idf;
    private readonly Tensor _weights; // [F, C]
    private readonly Tensor _bias; // [C]

    private LinearBaseline(Dictionary<string, int> features, float[] idf, Tensor weights, Tensor bias, IReadOnlyList<string> labels)
    {
        _features = features;
        _idf = idf;
        _weights = weights;
        _bias = bias;
        Labels = labels;
    }

    public IReadOnlyList<string> Labels { get; }

    public int FeatureCount => _features.Count;

    public static LinearBaseline Fit(IReadOnlyList<LabelledDocument> train, IReadOnlyList<string> labels, LinearBaselineOptions options)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(options);
        var terms = train.Select(d => Terms(d.Text, options.Bigrams)).ToList();
        var documentFrequency = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var set in terms.Select(t => t.Distinct(StringComparer.Ordinal)))
        {
            foreach (var term in set)
            {
                documentFrequency[term] = documentFrequency.GetValueOrDefault(term) + 1;
            }
        }

        var kept = documentFrequency.Where(kv => kv.Value >= options.MinDocumentFrequency)
            .OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Take(options.MaxFeatures).ToList();
        var features = kept.Select((kv, i) => (kv.Key, i)).ToDictionary(p => p.Key, p => p.i, StringComparer.Ordinal);
        var idf = kept.Select(kv => (float)(Math.Log((1.0 + train.Count) / (1.0 + kv.Value)) + 1.0)).ToArray();

        manual_seed(options.Seed);
        var labelIndex = labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i, StringComparer.Ordinal);
        var weights = new TorchSharp.Modules.Parameter(zeros(features.Count, labels.Count));
        var bias = new TorchSharp.Modules.Parameter(zeros(labels.Count));
        var model = new LinearBaseline(features, idf, weights, bias, labels);
        using (var scope = NewDisposeScope())
        {
            var x = model.Vectorise(terms);
            var y = tensor(train.Select(d => (long)labelIndex[d.Label]).ToArray());
            using var optimizer = optim.Adam([weights, bias], options.LearningRate);
            for (var i = 0; i < options.Iterations; i++)
            {
                using var step = NewDisposeScope();
                optimizer.zero_grad();
                var loss = nn.functional.cross_entropy(matmul(x, weights) + bias, y) + (options.L2 * weights.pow(2).sum());
                loss.backward();
                optimizer.step();
            }
        }

        weights.requires_grad_(false);
        bias.requires_grad_(false);
        return model;
    }

    /// <summary>Class probabilities per document.</summary>
    public List<double[]> PredictProbabilities(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        using var scope = NewDisposeScope();
        using var mode = no_grad();
        var x = Vectorise(texts.Select(t => Terms(t, true)).ToList());
        var probabilities = nn.functional.softmax(matmul(x, _weights) + _bias, 1).to(ScalarType.Float64).data<double>().ToArray();
        var classes = Labels.Count;
        return Enumerable.Range(0, texts.Count).Select(r => probabilities.AsSpan(r * classes, classes).ToArray()).ToList();
    }

    private Tensor Vectorise(IReadOnlyList<List<string>> documents)
    {
        var rows = new float[documents.Count * _features.Count];
        for (var r = 0; r < documents.Count; r++)
        {
            var counts = new Dictionary<int, int>();
            foreach (var term in documents[r])
            {
                if (_features.TryGetValue(term, out var f))
                {
                    counts[f] = counts.GetValueOrDefault(f) + 1;
                }
            }

            double norm = 0;
            foreach (var (f, c) in counts)
            {
                var value = (1.0 + Math.Log(c)) * _idf[f]; // sublinear tf × idf
                rows[(r * _features.Count) + f] = (float)value;
                norm += value * value;
            }

            norm = Math.Sqrt(norm);
            if (norm > 0)
            {
                foreach (var f in counts.Keys)
                {
                    rows[(r * _features.Count) + f] /= (float)norm;
                }
            }
        }

        return tensor(rows, [documents.Count, _features.Count]);
    }

    private static List<string> Terms(string text, bool bigrams)
    {
        var words = WordPattern().Matches(text.ToLowerInvariant()).Select(m => m.Value).ToList();
        var terms = new List<string>(words);
        if (bigrams)
        {
            for (var i = 0; i + 1 < words.Count; i++)
            {
                terms.Add(words[i] + " " + words[i + 1]);
            }
        }

        return terms;
    }

    [GeneratedRegex(@"\b\w\w+\b", RegexOptions.CultureInvariant)]
    private static partial Regex WordPattern();
}
