using System.Text.Json;
using System.Text.Json.Nodes;

namespace Triage.Classifier.Checkpoints;

/// <summary>The subset of a Hugging Face BERT <c>config.json</c> that defines the encoder's shape.</summary>
public sealed record BertConfig
{
    public int VocabSize { get; init; } = 30522;
    public int HiddenSize { get; init; } = 768;
    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 12;
    public int IntermediateSize { get; init; } = 3072;
    public string HiddenAct { get; init; } = "gelu";
    public int MaxPositionEmbeddings { get; init; } = 512;
    public int TypeVocabSize { get; init; } = 2;
    public double LayerNormEps { get; init; } = 1e-12;
    public double HiddenDropoutProb { get; init; } = 0.1;
    public double AttentionProbsDropoutProb { get; init; } = 0.1;
    public int PadTokenId { get; init; }

    /// <summary>Activations this encoder implements. <c>gelu</c> is the exact erf form, as in BERT.</summary>
    public static readonly IReadOnlySet<string> SupportedActivations = new HashSet<string>(StringComparer.Ordinal) { "gelu", "relu", "gelu_new", "gelu_pytorch_tanh" };

    public int HeadSize => HiddenSize / NumAttentionHeads;

    /// <summary>Reads and validates <c>config.json</c>; every problem names the file and the field.</summary>
    public static BertConfig Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new CheckpointException($"config.json not found: {path}");
        }

        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new CheckpointException($"{path}: config must be a JSON object.");
        }
        catch (JsonException ex)
        {
            throw new CheckpointException($"{path}: not valid JSON: {ex.Message}", ex);
        }

        var modelType = root["model_type"]?.GetValue<string>();
        if (modelType is not null && modelType != "bert")
        {
            throw new CheckpointException($"{path}: unsupported model_type '{modelType}'; only 'bert' checkpoints can be loaded.");
        }

        var config = new BertConfig
        {
            VocabSize = Int(root, "vocab_size", 30522, path),
            HiddenSize = Int(root, "hidden_size", 768, path),
            NumHiddenLayers = Int(root, "num_hidden_layers", 12, path),
            NumAttentionHeads = Int(root, "num_attention_heads", 12, path),
            IntermediateSize = Int(root, "intermediate_size", 3072, path),
            HiddenAct = root["hidden_act"]?.GetValue<string>() ?? "gelu",
            MaxPositionEmbeddings = Int(root, "max_position_embeddings", 512, path),
            TypeVocabSize = Int(root, "type_vocab_size", 2, path),
            LayerNormEps = Double(root, "layer_norm_eps", 1e-12, path),
            HiddenDropoutProb = Double(root, "hidden_dropout_prob", 0.1, path),
            AttentionProbsDropoutProb = Double(root, "attention_probs_dropout_prob", 0.1, path),
            PadTokenId = Int(root, "pad_token_id", 0, path),
        };
        config.Validate(path);
        return config;
    }

    /// <summary>Checks the shape is one this encoder can build.</summary>
    public void Validate(string source)
    {
        if (!SupportedActivations.Contains(HiddenAct))
        {
            throw new CheckpointException($"{source}: unsupported hidden_act '{HiddenAct}'; supported: {string.Join(", ", SupportedActivations)}.");
        }

        Positive(VocabSize, "vocab_size", source);
        Positive(HiddenSize, "hidden_size", source);
        Positive(NumHiddenLayers, "num_hidden_layers", source);
        Positive(NumAttentionHeads, "num_attention_heads", source);
        Positive(IntermediateSize, "intermediate_size", source);
        Positive(MaxPositionEmbeddings, "max_position_embeddings", source);
        if (HiddenSize % NumAttentionHeads != 0)
        {
            throw new CheckpointException($"{source}: hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}.");
        }
    }

    /// <summary>Writes a Hugging Face-compatible <c>config.json</c>; <paramref name="extra"/> adds fields such as id2label.</summary>
    public void Save(string path, IReadOnlyDictionary<string, JsonNode?>? extra = null, string architecture = "BertModel")
    {
        var root = new JsonObject
        {
            ["architectures"] = new JsonArray(architecture),
            ["model_type"] = "bert",
            ["vocab_size"] = VocabSize,
            ["hidden_size"] = HiddenSize,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["num_attention_heads"] = NumAttentionHeads,
            ["intermediate_size"] = IntermediateSize,
            ["hidden_act"] = HiddenAct,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["type_vocab_size"] = TypeVocabSize,
            ["layer_norm_eps"] = LayerNormEps,
            ["hidden_dropout_prob"] = HiddenDropoutProb,
            ["attention_probs_dropout_prob"] = AttentionProbsDropoutProb,
            ["pad_token_id"] = PadTokenId,
        };
        if (extra is not null)
        {
            foreach (var (key, value) in extra)
            {
                root[key] = value?.DeepClone();
            }
        }

        File.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    private static void Positive(int value, string name, string source)
    {
        if (value <= 0)
        {
            throw new CheckpointException($"{source}: {name} must be positive, got {value}.");
        }
    }

    private static int Int(JsonObject root, string name, int fallback, string path)
    {
        try
        {
            return root[name] is { } node ? node.GetValue<int>() : fallback;
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException)
        {
            throw new CheckpointException($"{path}: {name} must be an integer.", ex);
        }
    }

    private static double Double(JsonObject root, string name, double fallback, string path)
    {
        try
        {
            return root[name] is { } node ? node.GetValue<double>() : fallback;
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException)
        {
            throw new CheckpointException($"{path}: {name} must be a number.", ex);
        }
    }
}
