using System.Text.Json.Nodes;

namespace Triage.Classifier.Tests.Support;

/// <summary>A small, balanced slice of the real BBC News training split, written as labelled JSONL for a test.</summary>
internal static class NewsSubset
{
    /// <summary>The first <paramref name="perLabel"/> training articles of each class; without a validation split, so the
    /// trainer carves its seeded stratified 20 %.</summary>
    public static string Write(string path, int perLabel)
    {
        var lines = File.ReadLines(SharedAssets.Dataset("bbc-news"))
            .Select(l => (Line: l, Node: JsonNode.Parse(l)!))
            .Where(x => (string?)x.Node["split"] == "train")
            .GroupBy(x => (string?)x.Node["label"])
            .SelectMany(g => g.Take(perLabel).Select(x => x.Line))
            .ToList();
        File.WriteAllLines(path, lines);
        return path;
    }
}
