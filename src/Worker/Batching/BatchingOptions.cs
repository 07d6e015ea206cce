using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Triage.Worker.Batching;

/// <summary>The <c>Batching</c> section: how prepared documents are grouped into padded model batches.</summary>
internal sealed class BatchingOptions
{
    public const string SectionName = "Batching";

    public const int DefaultMaxBatchTokens = 16_384;
    public const int DefaultMaxBatchDocuments = 64;
    public const int DefaultTokenizerWorkers = 0;
    public static readonly TimeSpan DefaultMaxWait = TimeSpan.FromMilliseconds(50);

    /// <summary>Padded token budget per batch, counted as longest window × windows (TEI's <c>--max-batch-tokens</c>
    /// for padded backends). Default 16 384. A single document bigger than the budget runs alone.</summary>
    [Range(16, 1 << 22)]
    public int MaxBatchTokens { get; set; } = DefaultMaxBatchTokens;

    /// <summary>Most documents in one batch. Default 64.</summary>
    [Range(1, 4096)]
    public int MaxBatchDocuments { get; set; } = DefaultMaxBatchDocuments;

    /// <summary>How long the first document of a partly filled batch may wait for company. Default 50 ms, so a
    /// trickle of messages is not held back.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:30")]
    public TimeSpan MaxWait { get; set; } = DefaultMaxWait;

    /// <summary>Tasks that parse and tokenise messages off the inference thread. Default 0: the processor count,
    /// at most 4.</summary>
    [Range(0, 256)]
    public int TokenizerWorkers { get; set; } = DefaultTokenizerWorkers;

    public int EffectiveTokenizerWorkers => TokenizerWorkers > 0 ? TokenizerWorkers : Math.Clamp(Environment.ProcessorCount, 1, 4);
}

[OptionsValidator]
internal sealed partial class BatchingOptionsValidator : IValidateOptions<BatchingOptions>;
