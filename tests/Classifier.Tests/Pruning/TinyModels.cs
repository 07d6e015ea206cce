using System.Text.Json.Nodes;
using Triage.Classifier.Checkpoints;
using Triage.Classifier.Modeling;
using static TorchSharp.torch;

namespace Triage.Classifier.Tests.Pruning;

/// <summary>Small random-weight models and padded batches for the pruning tests.</summary>
internal static class TinyModels
{
    public const long Cls = 2;

    public static BertConfig Config(int layers = 4) => new()
    {
        VocabSize = 200,
        HiddenSize = 32,
        NumHiddenLayers = layers,
        NumAttentionHeads = 2,
        IntermediateSize = 64,
        MaxPositionEmbeddings = 512,
    };

    public static EncoderStrategy Strategy(string method, BertConfig config, JsonObject? parameters = null) =>
        EncoderStrategyFactory.Create(new MethodSettings(method, parameters ?? []), config);

    /// <summary>A seeded random classifier in eval mode.</summary>
    public static SequenceClassifier Classifier(string method, JsonObject? parameters = null, long seed = 1, BertConfig? config = null)
    {
        config ??= Config();
        manual_seed(seed);
        var model = new SequenceClassifier(config, 3, Pooling.Mean, Strategy(method, config, parameters));
        model.eval();
        return model;
    }

    /// <summary>Random documents ([CLS] first) padded to the longest; ids [B, T] int64 and mask [B, T] bool.</summary>
    public static (Tensor Ids, Tensor Mask) Batch(int seed, params int[] lengths)
    {
        var random = new Random(seed);
        var longest = lengths.Max();
        var ids = new long[lengths.Length, longest];
        var mask = new bool[lengths.Length, longest];
        for (var row = 0; row < lengths.Length; row++)
        {
            for (var col = 0; col < lengths[row]; col++)
            {
                ids[row, col] = col == 0 ? Cls : random.Next(5, 200);
                mask[row, col] = true;
            }
        }

        return (tensor(ids), tensor(mask));
    }

    /// <summary>Row <paramref name="row"/> of a batch cut to its real length, as a batch of one.</summary>
    public static (Tensor Ids, Tensor Mask) Alone(Tensor ids, int row, int length) =>
        (ids.narrow(0, row, 1).narrow(1, 0, length).contiguous(), ones(1, length, ScalarType.Bool));

    public static float[] Floats(Tensor t) => t.to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
}
