using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Triage.Classifier.Tokenization;

/// <summary>
/// Hugging Face BasicTokenizer's word splitting: whitespace separates words; every punctuation character and every
/// CJK ideograph is a word of its own; everything else (symbols, emoji) stays inside its word, so WordPiece turns an
/// unknown word into [UNK]. Microsoft.ML.Tokenizers' default pre-tokenizer instead drops characters it does not
/// consider word or punctuation (e.g. "🙂", "☃"), which silently changes ids and lengths.
/// </summary>
internal sealed class BertPreTokenizer : PreTokenizer
{
    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
        text is null ? [] : Split(text.AsSpan());

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text);

    private static List<(int Offset, int Length)> Split(ReadOnlySpan<char> text)
    {
        var words = new List<(int, int)>();
        var start = -1;
        var index = 0;
        while (index < text.Length)
        {
            Rune.DecodeFromUtf16(text[index..], out var rune, out var width);
            if (Rune.IsWhiteSpace(rune))
            {
                Flush(words, ref start, index);
            }
            else if (IsPunctuation(rune) || IsCjk(rune.Value))
            {
                Flush(words, ref start, index);
                words.Add((index, width));
            }
            else if (start < 0)
            {
                start = index;
            }

            index += width;
        }

        Flush(words, ref start, text.Length);
        return words;
    }

    private static void Flush(List<(int, int)> words, ref int start, int end)
    {
        if (start >= 0)
        {
            words.Add((start, end - start));
            start = -1;
        }
    }

    /// <summary>BERT counts all non-alphanumeric ASCII as punctuation, plus Unicode category P*.</summary>
    private static bool IsPunctuation(Rune rune)
    {
        var cp = rune.Value;
        if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
        {
            return true;
        }

        return Rune.GetUnicodeCategory(rune) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>The CJK Unified Ideograph blocks BERT splits character by character.</summary>
    private static bool IsCjk(int cp) =>
        (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
        || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF)
        || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}
