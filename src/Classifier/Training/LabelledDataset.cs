using System.Security.Cryptography;
using System.Text.Json;

namespace Triage.Classifier.Training;

/// <summary>One labelled document.</summary>
public sealed record LabelledDocument(string Id, string Split, string Label, string Text);

/// <summary>
/// Labelled data from JSON Lines (<c>id</c>, <c>split</c>, <c>label</c>, <c>text</c>) or CSV with a header row naming
/// those columns. Where no validation split exists, a seeded stratified 20% of train becomes validation.
/// </summary>
public sealed class LabelledDataset
{
    private LabelledDataset(IReadOnlyList<LabelledDocument> documents, string sha256, string path)
    {
        Documents = documents;
        Sha256 = sha256;
        Path = path;
    }

    public IReadOnlyList<LabelledDocument> Documents { get; }

    /// <summary>SHA-256 of the file's bytes: stored in the model for provenance.</summary>
    public string Sha256 { get; }

    public string Path { get; }

    /// <summary>Labels in ordinal order; the model's logit order.</summary>
    public IReadOnlyList<string> Labels => Documents.Select(d => d.Label).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

    public IReadOnlyList<LabelledDocument> Split(string split) =>
        Documents.Where(d => string.Equals(d.Split, split, StringComparison.Ordinal)).ToList();

    /// <summary>
    /// At most <paramref name="count"/> documents evenly spaced through <paramref name="documents"/> (all of them when
    /// there are fewer). Deterministic, and it covers every label in proportion even when a file is sorted by label,
    /// where taking the first N would not.
    /// </summary>
    public static IReadOnlyList<LabelledDocument> EvenlySpaced(IReadOnlyList<LabelledDocument> documents, int? count)
    {
        ArgumentNullException.ThrowIfNull(documents);
        if (count is not { } n || n >= documents.Count)
        {
            return documents;
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n, nameof(count));
        return Enumerable.Range(0, n).Select(i => documents[(int)((long)i * documents.Count / n)]).ToList();
    }

    public static LabelledDataset Load(string path, int seed = 42, double validationFraction = 0.2)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Data file not found: {path}", path);
        }

        var bytes = File.ReadAllBytes(path);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var documents = path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? ReadCsv(path) : ReadJsonLines(path);
        if (documents.Count == 0)
        {
            throw new InvalidDataException($"{path}: no documents.");
        }

        if (!documents.Any(d => d.Split == "validation"))
        {
            documents = CarveValidation(documents, seed, validationFraction);
        }

        return new LabelledDataset(documents, sha, path);
    }

    private static List<LabelledDocument> ReadJsonLines(string path)
    {
        var documents = new List<LabelledDocument>();
        var lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            try
            {
                using var document = JsonDocument.Parse(line);
                var root = document.RootElement;
                var id = root.TryGetProperty("id", out var idValue) ? idValue.ToString() : lineNumber.ToString(System.Globalization.CultureInfo.InvariantCulture);
                var split = root.TryGetProperty("split", out var splitValue) ? splitValue.GetString() ?? "train" : "train";
                var label = root.GetProperty("label").ToString();
                var text = root.GetProperty("text").GetString() ?? "";
                documents.Add(new LabelledDocument(id, split, label, text));
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: expected a JSON object with 'label' and 'text': {ex.Message}", ex);
            }
        }

        return documents;
    }

    private static List<LabelledDocument> ReadCsv(string path)
    {
        var rows = CsvReader.Read(File.ReadAllText(path)).ToList();
        if (rows.Count == 0)
        {
            return [];
        }

        var header = rows[0].Select(h => h.Trim().ToLowerInvariant()).ToList();
        int Column(string name, bool required)
        {
            var index = header.IndexOf(name);
            if (index < 0 && required)
            {
                throw new InvalidDataException($"{path}: CSV header has no '{name}' column (found: {string.Join(", ", header)}).");
            }

            return index;
        }

        var (idColumn, splitColumn, labelColumn, textColumn) = (Column("id", false), Column("split", false), Column("label", true), Column("text", true));
        return rows.Skip(1).Where(r => r.Count > 1).Select((r, i) => new LabelledDocument(
            idColumn >= 0 ? r[idColumn] : (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture),
            splitColumn >= 0 ? r[splitColumn] : "train",
            r[labelColumn],
            r[textColumn])).ToList();
    }

    /// <summary>Seeded and stratified: each label gives the same fraction of its training documents.</summary>
    private static List<LabelledDocument> CarveValidation(List<LabelledDocument> documents, int seed, double fraction)
    {
        var random = new Random(seed);
        var moved = new HashSet<LabelledDocument>();
        foreach (var group in documents.Where(d => d.Split == "train").GroupBy(d => d.Label, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var members = group.OrderBy(d => d.Id, StringComparer.Ordinal).ToArray();
            random.Shuffle(members);
            foreach (var member in members.Take((int)Math.Round(members.Length * fraction)))
            {
                moved.Add(member);
            }
        }

        return documents.Select(d => moved.Contains(d) ? d with { Split = "validation" } : d).ToList();
    }
}

/// <summary>RFC 4180 CSV: quoted fields, doubled quotes, newlines inside quotes.</summary>
internal static class CsvReader
{
    public static IEnumerable<List<string>> Read(string text)
    {
        var row = new List<string>();
        var field = new System.Text.StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    field.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == ',')
            {
                row.Add(field.ToString());
                field.Clear();
            }
            else if (c == '\n' || c == '\r')
            {
                if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                {
                    i++;
                }

                row.Add(field.ToString());
                field.Clear();
                yield return row;
                row = [];
            }
            else
            {
                field.Append(c);
            }
        }

        if (field.Length > 0 || row.Count > 0)
        {
            row.Add(field.ToString());
            yield return row;
        }
    }
}
