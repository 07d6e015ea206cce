using Triage.Classifier.Checkpoints;
using Triage.Classifier.Modeling;
using Triage.Classifier.Runtime;
using Triage.Classifier.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Triage.Classifier.Inference;

/// <summary>Encoder features for one text.</summary>
/// <param name="InputIds">[CLS] … [SEP] ids, truncated to the model's window.</param>
/// <param name="MeanPooled">Mean of the last hidden state over all tokens ([CLS]/[SEP] included).</param>
/// <param name="LastHiddenState">[T][d] when requested.</param>
public sealed record Embedding(int[] InputIds, float[] MeanPooled, float[][]? LastHiddenState);

/// <summary>
/// Feature extraction from any Hugging Face BERT checkpoint directory (config.json, vocab.txt, model.safetensors):
/// the plain encoder, no head; extra tensors in the file (pooler, MLM head) are reported and ignored.
/// </summary>
public sealed class Embedder : IDisposable
{
    private readonly BertModel _model;
    private readonly DenseStrategy _dense;
    private readonly Device _device;

    public Embedder(string directory, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        TorchRuntime.EnsureInitialized();
        var config = BertConfig.Load(Path.Combine(directory, "config.json"));
        Tokenizer = WordPieceTokenizer.Load(Path.Combine(directory, "vocab.txt"));
        _model = new BertModel(config);
        using (var file = SafeTensorsFile.Open(Path.Combine(directory, "model.safetensors")))
        {
            LoadReport = CheckpointLoader.Load(_model, file, encoderPrefix: "");
        }

        _device = device ?? CPU;
        _model.to(_device);
        _model.eval();
        _dense = new DenseStrategy();
        MaxTokens = config.MaxPositionEmbeddings;
    }

    public WordPieceTokenizer Tokenizer { get; }

    public LoadReport LoadReport { get; }

    public int MaxTokens { get; }

    public Embedding Embed(string text, bool includeHidden)
    {
        var tokens = Tokenizer.Encode(text);
        var window = new LongDocumentPolicy { MaxTokens = MaxTokens }.Windows(tokens, Tokenizer.ClsId, Tokenizer.SepId)[0];
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var (ids, mask) = DocumentClassifier.Batch([window], Tokenizer.PadId, _device);
        using var output = _model.Forward(ids, mask, null, _dense);
        var hidden = output.Hidden[0].to(ScalarType.Float32).cpu(); // [T, d]
        var pooled = SequenceClassifier.MaskedMean(output.Hidden, output.Mask)[0].to(ScalarType.Float32).cpu().data<float>().ToArray();
        float[][]? rows = null;
        if (includeHidden)
        {
            var d = (int)hidden.shape[1];
            var flat = hidden.data<float>().ToArray();
            rows = Enumerable.Range(0, window.Length).Select(r => flat.AsSpan(r * d, d).ToArray()).ToArray();
        }

        return new Embedding(window, pooled, rows);
    }

    public void Dispose() => _model.Dispose();
}
