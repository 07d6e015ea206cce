using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;
using Triage.Classifier.Checkpoints;

namespace Triage.Classifier.Tokenization;

/// <summary>
/// BERT WordPiece tokenisation through Microsoft.ML.Tokenizers, set up to reproduce Hugging Face's BertTokenizer:
/// the same text clean-up (control characters dropped, every Unicode space made a plain space), lower-casing and
/// accent stripping for uncased vocabularies, and CJK characters split individually.
/// </summary>
public sealed class WordPieceTokenizer
{
    private readonly BertTokenizer _tokenizer;

    private WordPieceTokenizer(BertTokenizer tokenizer, bool lowerCase, int vocabularySize)
    {
        _tokenizer = tokenizer;
        LowerCase = lowerCase;
        VocabularySize = vocabularySize;
    }

    public bool LowerCase { get; }

    public int VocabularySize { get; }

    public int ClsId => _tokenizer.ClassificationTokenId;

    public int SepId => _tokenizer.SeparatorTokenId;

    public int PadId => _tokenizer.PaddingTokenId;

    public int MaskId => _tokenizer.MaskingTokenId;

    /// <summary>
    /// Loads <c>vocab.txt</c>. Casing comes from <paramref name="lowerCase"/>, else from a <c>tokenizer_config.json</c>
    /// beside the vocabulary (<c>do_lower_case</c>), else from the vocabulary itself (no upper-case entries = uncased).
    /// </summary>
    public static WordPieceTokenizer Load(string vocabPath, bool? lowerCase = null)
    {
        ArgumentNullException.ThrowIfNull(vocabPath);
        if (!File.Exists(vocabPath))
        {
            throw new CheckpointException($"vocab.txt not found: {vocabPath}");
        }

        var lines = File.ReadAllLines(vocabPath);
        var duplicates = lines.GroupBy(l => l, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1 && g.Key.Length > 0);
        if (duplicates is not null)
        {
            throw new CheckpointException($"{vocabPath}: duplicate vocabulary entry '{duplicates.Key}'.");
        }

        foreach (var special in new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" })
        {
            if (!lines.Contains(special, StringComparer.Ordinal))
            {
                throw new CheckpointException($"{vocabPath}: the vocabulary has no {special} token.");
            }
        }

        var lower = lowerCase ?? ReadDoLowerCase(Path.GetDirectoryName(vocabPath)!) ?? !lines.Any(HasUpperCaseLetter);
        var options = new BertOptions
        {
            LowerCaseBeforeTokenization = lower,
            // Uncased BERT strips accents (NFD + drop non-spacing marks); cased BERT keeps them.
            RemoveNonSpacingMarks = lower,
            IndividuallyTokenizeCjk = true,
            ApplyBasicTokenization = true,
            SplitOnSpecialTokens = true,
            PreTokenizer = new BertPreTokenizer(),
        };
        return new WordPieceTokenizer(BertTokenizer.Create(vocabPath, options), lower, lines.Length);
    }

    /// <summary>WordPiece ids of <paramref name="text"/> without [CLS]/[SEP].</summary>
    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _tokenizer.EncodeToIds(Clean(text), addSpecialTokens: false, considerPreTokenization: true, considerNormalization: true);
    }

    /// <summary>The token string of <paramref name="id"/> (for diagnostics and masked-LM output).</summary>
    public string? IdToToken(int id) => _tokenizer.Decode([id]);

    /// <summary>
    /// Hugging Face's <c>_clean_text</c>: drop NUL, U+FFFD and control characters, turn every whitespace character
    /// into a plain space. Microsoft.ML.Tokenizers does neither, which changes ids on real documents.
    /// </summary>
    public static string Clean(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var builder = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            var value = rune.Value;
            if (value == 0 || value == 0xFFFD || IsControl(rune))
            {
                continue;
            }

            if (IsWhitespace(rune))
            {
                builder.Append(' ');
            }
            else
            {
                builder.Append(rune.ToString());
            }
        }

        return builder.ToString();
    }

    private static bool IsWhitespace(Rune rune) =>
        rune.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(rune) == UnicodeCategory.SpaceSeparator;

    private static bool IsControl(Rune rune)
    {
        if (rune.Value is '\t' or '\n' or '\r')
        {
            return false;
        }

        var category = Rune.GetUnicodeCategory(rune);
        return category is UnicodeCategory.Control or UnicodeCategory.Format;
    }

    // Letters such as U+211D (double-struck R) are upper case with no lower-case form; uncased vocabularies keep them.
    private static bool HasUpperCaseLetter(string entry) =>
        !entry.StartsWith('[') && entry.Any(c => char.IsUpper(c) && char.ToLowerInvariant(c) != c);

    private static bool? ReadDoLowerCase(string directory)
    {
        var path = Path.Combine(directory, "tokenizer_config.json");
        if (!File.Exists(path))
        {
            return null;
        }

        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.TryGetProperty("do_lower_case", out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : null;
    }
}
