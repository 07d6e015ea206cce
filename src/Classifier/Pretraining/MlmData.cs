using System.Text.Json;
using Triage.Classifier.Tokenization;

namespace Triage.Classifier.Pretraining;

/// <summary>
/// Unlabelled text: the <c>text</c> field of JSON Lines (optionally only some <c>split</c> values — never pre-train
/// on a test split), or every <c>.txt</c> file under a directory.
/// </summary>
public static class UnlabelledCorpus
{
    public static IEnumerable<string> Read(string path, IReadOnlySet<string>? splits)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
        {
            foreach (var file in Directory.EnumerateFiles(path, "*.txt", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                yield return File.ReadAllText(file);
            }

            yield break;
        }

        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Pre-training input not found: {path}", path);
        }

        var lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            string? text;
            string? split;
            try
            {
                using var document = JsonDocument.Parse(line);
                text = document.RootElement.TryGetProperty("text", out var t) ? t.GetString() : null;
                split = document.RootElement.TryGetProperty("split", out var s) ? s.GetString() : null;
            }
            catch (JsonException ex)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: not a JSON object: {ex.Message}", ex);
            }

            if (text is null)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: no 'text' field.");
            }

            if (splits is null || split is null || splits.Contains(split))
            {
                yield return text;
            }
        }
    }
}

/// <summary>A packed pre-training sequence: [CLS] tokens… [SEP], with word-start flags for whole-word masking.</summary>
public sealed record PackedSequence(int[] Ids, bool[] WordStart);

/// <summary>
/// Packs documents into sequences of exactly the window length (BERT's "full sentences" packing): documents are
/// concatenated with [SEP] between them and cut into windows, so no compute is spent on padding.
/// </summary>
public static class SequencePacker
{
    public static List<PackedSequence> Pack(IEnumerable<IReadOnlyList<int>> documents, WordPieceTokenizer tokenizer, IReadOnlyList<string> vocabulary, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(vocabulary);
        var body = maxTokens - 2;
        var stream = new List<int>();
        foreach (var document in documents)
        {
            if (document.Count == 0)
            {
                continue;
            }

            stream.AddRange(document);
            stream.Add(tokenizer.SepId);
        }

        var sequences = new List<PackedSequence>();
        for (var start = 0; start + (body / 2) <= stream.Count; start += body)
        {
            var length = Math.Min(body, stream.Count - start);
            int[] ids = [tokenizer.ClsId, .. stream.GetRange(start, length), tokenizer.SepId];
            var wordStart = ids.Select(id => id < vocabulary.Count && !vocabulary[id].StartsWith("##", StringComparison.Ordinal)).ToArray();
            sequences.Add(new PackedSequence(ids, wordStart));
        }

        return sequences;
    }
}

/// <summary>
/// BERT's masking: select 15% of the non-special tokens (or of whole words), replace 80% of them by [MASK], 10% by a
/// random token and keep 10%; labels are the original ids at selected positions and -100 elsewhere.
/// </summary>
public sealed class MlmMasker
{
    private readonly int _maskId;
    private readonly int _vocabularySize;
    private readonly HashSet<int> _special;
    private readonly double _probability;
    private readonly bool _wholeWord;

    public MlmMasker(int maskId, int vocabularySize, IEnumerable<int> specialIds, double probability = 0.15, bool wholeWord = false)
    {
        _maskId = maskId;
        _vocabularySize = vocabularySize;
        _special = [.. specialIds];
        _probability = probability;
        _wholeWord = wholeWord;
    }

    public (long[] Inputs, long[] Labels) Mask(PackedSequence sequence, Random random)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        ArgumentNullException.ThrowIfNull(random);
        var ids = sequence.Ids;
        var inputs = ids.Select(i => (long)i).ToArray();
        var labels = Enumerable.Repeat(-100L, ids.Length).ToArray();
        var selected = new bool[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            if (_special.Contains(ids[i]))
            {
                continue;
            }

            if (_wholeWord && !sequence.WordStart[i] && i > 0 && !_special.Contains(ids[i - 1]))
            {
                selected[i] = selected[i - 1]; // a continuation piece follows its word's decision
                continue;
            }

            selected[i] = random.NextDouble() < _probability;
        }

        for (var i = 0; i < ids.Length; i++)
        {
            if (!selected[i])
            {
                continue;
            }

            labels[i] = ids[i];
            var roll = random.NextDouble();
            if (roll < 0.8)
            {
                inputs[i] = _maskId;
            }
            else if (roll < 0.9)
            {
                inputs[i] = random.Next(_vocabularySize);
            }
        }

        return (inputs, labels);
    }
}
