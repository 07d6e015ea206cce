using System.CommandLine;
using Triage.Classifier.Checkpoints;
using static TorchSharp.torch;

namespace Triage.Worker.Cli;

/// <summary>The encoder-shape options that <c>pretrain</c> and <c>train --from-scratch</c> share, with one mapping to a
/// <see cref="BertConfig"/> (default a small BERT: 4 layers, 256 hidden, 4 heads, 1 024 intermediate).</summary>
internal sealed class EncoderShapeOptions
{
    public Option<int> Layers { get; } = new("--layers") { Description = "Encoder layers.", DefaultValueFactory = _ => 4 };

    public Option<int> Hidden { get; } = new("--hidden") { Description = "Hidden size.", DefaultValueFactory = _ => 256 };

    public Option<int> Heads { get; } = new("--heads") { Description = "Attention heads.", DefaultValueFactory = _ => 4 };

    public Option<int> Intermediate { get; } = new("--intermediate") { Description = "Feed-forward size.", DefaultValueFactory = _ => 1024 };

    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Options.Add(Layers);
        command.Options.Add(Hidden);
        command.Options.Add(Heads);
        command.Options.Add(Intermediate);
    }

    /// <summary>The configuration these options describe, with the vocabulary size read from <paramref name="vocabPath"/>
    /// (bert-base-uncased's 30 522 when none is given).</summary>
    public BertConfig ToConfig(ParseResult parse, int maxPositions, string? vocabPath)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return new BertConfig
        {
            NumHiddenLayers = parse.GetValue(Layers),
            HiddenSize = parse.GetValue(Hidden),
            NumAttentionHeads = parse.GetValue(Heads),
            IntermediateSize = parse.GetValue(Intermediate),
            MaxPositionEmbeddings = maxPositions,
            VocabSize = vocabPath is null ? 30522 : File.ReadLines(vocabPath).Count(),
        };
    }
}

/// <summary><c>--storage f32|f16</c>: the weight dtype a command writes (inference runs in fp32 either way).</summary>
internal static class StorageDType
{
    public static ScalarType Parse(string? value) => value switch
    {
        "f16" => ScalarType.Float16,
        "f32" => ScalarType.Float32,
        var other => throw new ArgumentException($"--storage must be f32 or f16, got '{other}'."),
    };
}
