using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Triage.Classifier.Checkpoints;
using Triage.Classifier.Modeling;
using Triage.Classifier.Tokenization;

namespace Triage.Classifier.Models;

/// <summary>
/// <c>triage.json</c>: what turns a Hugging Face BERT checkpoint directory into a Triage model — labels, pooling,
/// head, long-document policy, encoder method, calibration temperature and provenance.
/// </summary>
public sealed record TriageManifest
{
    public const string FileName = "triage.json";
    public const int CurrentFormat = 1;

    public int Format { get; init; } = CurrentFormat;

    /// <summary>Written to every result row; identifies exactly this model (e.g. <c>bbc-news-dense-20261201</c>).</summary>
    public required string ModelVersion { get; init; }

    /// <summary>Class labels in logit order.</summary>
    public required IReadOnlyList<string> Labels { get; init; }

    public Pooling Pooling { get; init; } = Pooling.Mean;

    public MethodSettings Method { get; init; } = MethodSettings.Dense;

    public LongDocumentPolicy LongDocument { get; init; } = new();

    /// <summary>Temperature-scaling calibration: probabilities are softmax(logits / T). 1 = uncalibrated.</summary>
    public double Temperature { get; init; } = 1.0;

    /// <summary>SHA-256 of the training data file, for provenance.</summary>
    public string? TrainingDataSha256 { get; init; }

    /// <summary>The checkpoint fine-tuning started from.</summary>
    public string? BaseCheckpoint { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(new KebabCaseEnumNaming()) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static TriageManifest Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new CheckpointException($"{FileName} not found: {path}. A Triage model directory needs config.json, vocab.txt, model.safetensors and {FileName}.");
        }

        TriageManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<TriageManifest>(File.ReadAllText(path), JsonOptions);
        }
        catch (JsonException ex)
        {
            throw new CheckpointException($"{path}: invalid {FileName}: {ex.Message}", ex);
        }

        if (manifest is null)
        {
            throw new CheckpointException($"{path}: {FileName} is empty.");
        }

        manifest.Validate(path);
        return manifest;
    }

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, JsonOptions) + "\n");

    public void Validate(string source)
    {
        if (Format != CurrentFormat)
        {
            throw new CheckpointException($"{source}: format {Format} is not supported (expected {CurrentFormat}).");
        }

        if (string.IsNullOrWhiteSpace(ModelVersion))
        {
            throw new CheckpointException($"{source}: modelVersion is required.");
        }

        if (Labels is null || Labels.Count < 2)
        {
            throw new CheckpointException($"{source}: labels must list at least two classes.");
        }

        if (Labels.Distinct(StringComparer.Ordinal).Count() != Labels.Count)
        {
            throw new CheckpointException($"{source}: labels must be unique.");
        }

        if (!(Temperature > 0) || double.IsInfinity(Temperature))
        {
            throw new CheckpointException($"{source}: temperature must be a positive number, got {Temperature}.");
        }

        try
        {
            LongDocument.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new CheckpointException($"{source}: {ex.Message}", ex);
        }
    }

    /// <summary>Enum values as triage.json spells them: mean, cls, head-tail, chunks, …</summary>
    private sealed class KebabCaseEnumNaming : JsonNamingPolicy
    {
        public override string ConvertName(string name) => JsonNamingPolicy.KebabCaseLower.ConvertName(name);
    }
}

/// <summary>The id2label/label2id fields Hugging Face expects in config.json of a sequence classifier.</summary>
internal static class LabelMapping
{
    public static Dictionary<string, JsonNode?> ConfigFields(IReadOnlyList<string> labels)
    {
        var id2Label = new JsonObject();
        var label2Id = new JsonObject();
        for (var i = 0; i < labels.Count; i++)
        {
            id2Label[i.ToString(System.Globalization.CultureInfo.InvariantCulture)] = labels[i];
            label2Id[labels[i]] = i;
        }

        return new Dictionary<string, JsonNode?> { ["id2label"] = id2Label, ["label2id"] = label2Id };
    }
}
