using System.Text.Json;

namespace Triage.Classifier.Tests.Support;

/// <summary>One golden case: reference outputs computed by an independent float64 implementation.</summary>
internal sealed record GoldenCase(string Text, int[] InputIds, double[][] EmbeddingOutput, double[][] LayerOutputsFirstToken, double[][] LastHiddenState, double[] MeanPooled);

internal sealed record GoldenFile(string Checkpoint, IReadOnlyList<GoldenCase> Cases)
{
    public static GoldenFile Load(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var root = document.RootElement;
        var cases = root.GetProperty("cases").EnumerateArray().Select(c => new GoldenCase(
            c.GetProperty("text").GetString()!,
            c.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            Matrix(c.GetProperty("embedding_output")),
            Matrix(c.GetProperty("layer_outputs_first_token")),
            Matrix(c.GetProperty("last_hidden_state")),
            c.GetProperty("mean_pooled").EnumerateArray().Select(e => e.GetDouble()).ToArray())).ToList();
        return new GoldenFile(root.GetProperty("checkpoint").GetString()!, cases);
    }

    private static double[][] Matrix(JsonElement element) =>
        element.EnumerateArray().Select(row => row.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray();
}
