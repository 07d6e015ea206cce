using Triage.Classifier.Modeling;
using Triage.Classifier.Models;
using Triage.Classifier.Tokenization;
using static TorchSharp.torch;

namespace Triage.Classifier.Inference;

/// <summary>A document tokenised and cut into model windows, ready for a batch. Cheap to make off the inference thread.</summary>
/// <param name="Windows">Each window framed by [CLS] … [SEP], at most the policy's MaxTokens long.</param>
/// <param name="DocumentTokens">WordPieces of the whole text (no specials), before any truncation.</param>
public sealed record PreparedDocument(IReadOnlyList<int[]> Windows, int DocumentTokens)
{
    /// <summary>Tokens the model reads for this document (all windows, specials included).</summary>
    public int InputTokens => Windows.Sum(w => w.Length);

    /// <summary>The longest window: what this document costs in a padded batch.</summary>
    public int LongestWindow => Windows.Max(w => w.Length);
}

/// <summary>One document's prediction.</summary>
/// <param name="Label">The most probable class.</param>
/// <param name="Confidence">Its calibrated probability.</param>
/// <param name="Probabilities">Every class's calibrated probability.</param>
/// <param name="InputTokens">Tokens fed to the model.</param>
/// <param name="TokensAttended">Keys attended, averaged over layers, summed over the document's windows.</param>
/// <param name="TokensAttendedPerLayer">Keys attended in each layer (mean over heads), summed over the document's windows.</param>
public sealed record Prediction(string Label, double Confidence, IReadOnlyDictionary<string, double> Probabilities, int InputTokens, double TokensAttended, IReadOnlyList<double> TokensAttendedPerLayer);

/// <summary>
/// Classifies batches of documents with a loaded <see cref="TriageModel"/>. Not thread-safe by design: one inference
/// thread owns it, while <see cref="Prepare"/> (tokenisation) may run on any thread.
/// </summary>
public sealed class DocumentClassifier
{
    private readonly TriageModel _model;

    public DocumentClassifier(TriageModel model)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
    }

    public TriageModel Model => _model;

    /// <summary>Tokenises and windows one document; thread-safe.</summary>
    public PreparedDocument Prepare(string text)
    {
        var tokens = _model.Tokenizer.Encode(text);
        var windows = _model.Manifest.LongDocument.Windows(tokens, _model.Tokenizer.ClsId, _model.Tokenizer.SepId);
        return new PreparedDocument(windows, tokens.Count);
    }

    /// <summary>Runs one padded batch (all windows of all documents) and pools chunk logits per document.</summary>
    /// <param name="documents">The batch.</param>
    /// <param name="observer">Optional per-layer observer (the benchmark's profile pass).</param>
    public IReadOnlyList<Prediction> Classify(IReadOnlyList<PreparedDocument> documents, ILayerObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(documents);
        if (documents.Count == 0)
        {
            return [];
        }

        var windows = documents.SelectMany(d => d.Windows).ToList();
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var (ids, mask) = Batch(windows, _model.Tokenizer.PadId, _model.Device);
        using var output = _model.Network.Forward(ids, mask, observer);
        var logits = output.Logits.to(ScalarType.Float32).cpu(); // [W, C]
        var layerCount = (int)output.KeysAttended.shape[1];
        var perLayer = output.KeysAttended.cpu().data<float>().ToArray(); // [W, L] row-major

        var labels = _model.Manifest.Labels;
        var pooling = _model.Manifest.LongDocument.ChunkPooling;
        var temperature = _model.Manifest.Temperature;
        var predictions = new List<Prediction>(documents.Count);
        var offset = 0;
        foreach (var document in documents)
        {
            var count = document.Windows.Count;
            var documentLogits = logits.narrow(0, offset, count);
            var pooled = count == 1 ? documentLogits[0] : pooling == ChunkPooling.Max ? documentLogits.max(0).values : documentLogits.mean([0]);
            var probabilities = nn.functional.softmax(pooled / temperature, 0).data<float>().ToArray();
            var best = Array.IndexOf(probabilities, probabilities.Max());
            var byLabel = new Dictionary<string, double>(labels.Count, StringComparer.Ordinal);
            for (var i = 0; i < labels.Count; i++)
            {
                byLabel[labels[i]] = probabilities[i];
            }

            var layers = new double[layerCount];
            for (var w = offset; w < offset + count; w++)
            {
                for (var l = 0; l < layerCount; l++)
                {
                    layers[l] += perLayer[(w * layerCount) + l];
                }
            }

            var tokensAttended = layerCount == 0 ? 0 : layers.Average();
            predictions.Add(new Prediction(labels[best], probabilities[best], byLabel, document.InputTokens, tokensAttended, layers));
            offset += count;
        }

        return predictions;
    }

    /// <summary>Pads windows to the longest one: ids [W, T] int64 and mask [W, T] bool on <paramref name="device"/>.</summary>
    public static (Tensor Ids, Tensor Mask) Batch(IReadOnlyList<int[]> windows, int padId, Device device)
    {
        ArgumentNullException.ThrowIfNull(windows);
        var longest = windows.Max(w => w.Length);
        var ids = new long[windows.Count * longest];
        var mask = new bool[windows.Count * longest];
        Array.Fill(ids, padId);
        for (var row = 0; row < windows.Count; row++)
        {
            var window = windows[row];
            for (var col = 0; col < window.Length; col++)
            {
                ids[(row * longest) + col] = window[col];
                mask[(row * longest) + col] = true;
            }
        }

        var idTensor = tensor(ids, [windows.Count, longest]).to(device);
        var maskTensor = tensor(mask, [windows.Count, longest]).to(device);
        return (idTensor, maskTensor);
    }
}
