using Triage.Classifier.Checkpoints;
using Triage.Classifier.Tests.Support;
using Triage.Classifier.Tokenization;

namespace Triage.Classifier.Tests;

public sealed class TokenizerTests
{
    private static readonly WordPieceTokenizer Uncased = WordPieceTokenizer.Load(SharedAssets.BertBaseVocab);

    [Theory]
    // Symbols and emoji stay inside their word and make it [UNK], as Hugging Face's BasicTokenizer does.
    [InlineData("a 🙂 b", new[] { 1037, 100, 1038 })]
    [InlineData("hi🙂there", new[] { 100 })]
    [InlineData("a ☃x b", new[] { 1037, 100, 1038 })]
    // Accents stripped and lower-cased for the uncased vocabulary.
    [InlineData("NAÏVE Café", new[] { 15743, 7668 })]
    public void Matches_hugging_face_basic_tokenization(string text, int[] expected) =>
        Assert.Equal(expected, Uncased.Encode(text));

    [Fact]
    public void Uncased_vocabulary_is_detected()
    {
        Assert.True(Uncased.LowerCase);
        Assert.Equal(101, Uncased.ClsId);
        Assert.Equal(102, Uncased.SepId);
        Assert.Equal(0, Uncased.PadId);
        Assert.Equal(103, Uncased.MaskId);
    }

    [Fact]
    public void Control_characters_are_dropped_and_whitespace_normalised() =>
        Assert.Equal("a b c", WordPieceTokenizer.Clean("a\u0000\u200b\tb\u00a0c\ufffd"));

    [Fact]
    public void Vocabulary_without_special_tokens_is_rejected_with_its_name()
    {
        using var dir = new TempDirectory();
        File.WriteAllLines(dir.File("vocab.txt"), ["[PAD]", "[UNK]", "hello"]);
        var ex = Assert.Throws<CheckpointException>(() => WordPieceTokenizer.Load(dir.File("vocab.txt")));
        Assert.Contains("[CLS]", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Long_document_policies_frame_windows()
    {
        var tokens = Enumerable.Range(1000, 1200).ToArray();
        var head = new LongDocumentPolicy().Windows(tokens, 101, 102);
        Assert.Single(head);
        Assert.Equal(512, head[0].Length);
        Assert.Equal(101, head[0][0]);
        Assert.Equal(102, head[0][^1]);
        Assert.Equal(tokens[509], head[0][^2]);

        var headTail = new LongDocumentPolicy { Mode = LongDocumentMode.HeadTail }.Windows(tokens, 101, 102);
        Assert.Equal(512, headTail[0].Length);
        Assert.Equal(tokens[127], headTail[0][128]);
        Assert.Equal(tokens[^382], headTail[0][129]);
        Assert.Equal(tokens[^1], headTail[0][^2]);

        var chunks = new LongDocumentPolicy { Mode = LongDocumentMode.Chunks, ChunkOverlap = 110 }.Windows(tokens, 101, 102);
        // 510-token bodies with stride 400 cover 1 200 tokens in 3 windows; the last ends at the last token.
        Assert.Equal(3, chunks.Count);
        Assert.Equal(tokens[400], chunks[1][1]);
        Assert.Equal(tokens[^1], chunks[2][^2]);

        var empty = new LongDocumentPolicy().Windows([], 101, 102);
        Assert.Equal(new[] { 101, 102 }, empty[0]);
    }

    [Fact]
    public void Head_tail_longer_than_the_window_is_a_configuration_error()
    {
        var policy = new LongDocumentPolicy { Mode = LongDocumentMode.HeadTail, HeadTokens = 300, TailTokens = 300 };
        var ex = Assert.Throws<ArgumentException>(policy.Validate);
        Assert.Contains("headTokens", ex.Message, StringComparison.Ordinal);
    }
}
