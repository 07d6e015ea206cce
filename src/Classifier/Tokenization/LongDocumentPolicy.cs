namespace Triage.Classifier.Tokenization;

/// <summary>How a document longer than the encoder's window is turned into model inputs.</summary>
public enum LongDocumentMode
{
    /// <summary>The first <c>MaxTokens</c> tokens (the paper's setting and the default).</summary>
    Head,

    /// <summary>The first <c>HeadTokens</c> and last <c>TailTokens</c> WordPieces (Sun et al. 2019).</summary>
    HeadTail,

    /// <summary>Overlapping windows over the whole text; the windows' logits are pooled.</summary>
    Chunks,
}

/// <summary>How the logits of a document's windows become one prediction.</summary>
public enum ChunkPooling
{
    Mean,
    Max,
}

/// <summary>The long-document policy stored in triage.json.</summary>
public sealed record LongDocumentPolicy
{
    /// <summary>Default: head of 512.</summary>
    public LongDocumentMode Mode { get; init; } = LongDocumentMode.Head;

    /// <summary>Window length including [CLS] and [SEP]. Default 512.</summary>
    public int MaxTokens { get; init; } = 512;

    /// <summary>head+tail: WordPieces kept from the start. Default 128.</summary>
    public int HeadTokens { get; init; } = 128;

    /// <summary>head+tail: WordPieces kept from the end. Default 382 (128 + 382 + 2 specials = 512).</summary>
    public int TailTokens { get; init; } = 382;

    /// <summary>chunks: WordPieces shared by consecutive windows. Default 128.</summary>
    public int ChunkOverlap { get; init; } = 128;

    /// <summary>chunks: the most windows one document may produce (bounds the cost of a huge text). Default 64.</summary>
    public int MaxChunks { get; init; } = 64;

    /// <summary>chunks: how window logits are pooled. Default mean.</summary>
    public ChunkPooling ChunkPooling { get; init; } = ChunkPooling.Mean;

    /// <summary>Checks the numbers fit together; messages name the triage.json field.</summary>
    public void Validate()
    {
        if (MaxTokens < 8)
        {
            throw new ArgumentException($"longDocument.maxTokens must be at least 8, got {MaxTokens}.");
        }

        if (Mode == LongDocumentMode.HeadTail && (HeadTokens < 0 || TailTokens < 0 || HeadTokens + TailTokens + 2 > MaxTokens))
        {
            throw new ArgumentException(
                $"longDocument: headTokens ({HeadTokens}) + tailTokens ({TailTokens}) + 2 special tokens must not exceed maxTokens ({MaxTokens}).");
        }

        if (Mode == LongDocumentMode.Chunks && (ChunkOverlap < 0 || ChunkOverlap >= MaxTokens - 2 || MaxChunks < 1))
        {
            throw new ArgumentException(
                $"longDocument: chunkOverlap must be in [0, maxTokens - 2) and maxChunks ≥ 1 (got {ChunkOverlap}, {MaxChunks}).");
        }
    }

    /// <summary>
    /// Splits a document's WordPiece ids (no specials) into model windows, each framed by [CLS] … [SEP].
    /// A document of zero tokens gives one window of just [CLS] [SEP]; callers decide whether that is an error.
    /// </summary>
    public IReadOnlyList<int[]> Windows(IReadOnlyList<int> tokens, int clsId, int sepId)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        var body = MaxTokens - 2;
        switch (Mode)
        {
            case LongDocumentMode.Head:
                return [Frame(tokens.Take(body), clsId, sepId)];
            case LongDocumentMode.HeadTail:
                if (tokens.Count <= body)
                {
                    return [Frame(tokens, clsId, sepId)];
                }

                return [Frame(tokens.Take(HeadTokens).Concat(tokens.Skip(tokens.Count - TailTokens)), clsId, sepId)];
            case LongDocumentMode.Chunks:
                var windows = new List<int[]>();
                var stride = body - ChunkOverlap;
                for (var start = 0; windows.Count < MaxChunks; start += stride)
                {
                    windows.Add(Frame(tokens.Skip(start).Take(body), clsId, sepId));
                    if (start + body >= tokens.Count)
                    {
                        break;
                    }
                }

                return windows;
            default:
                throw new InvalidOperationException($"Unknown long-document mode {Mode}.");
        }
    }

    private static int[] Frame(IEnumerable<int> tokens, int clsId, int sepId) => [clsId, .. tokens, sepId];
}
