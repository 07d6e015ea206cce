namespace Triage.Worker.Batching;

/// <summary>What one item costs in a padded batch.</summary>
/// <param name="Windows">Model windows (rows of the batch) the item contributes.</param>
/// <param name="LongestWindow">Its longest window, specials included.</param>
/// <param name="Tokens">Real (unpadded) tokens over all its windows.</param>
internal readonly record struct BatchCost(int Windows, int LongestWindow, int Tokens)
{
    /// <summary>The item's cost if it ran alone.</summary>
    public long PaddedTokens => (long)Windows * LongestWindow;
}

/// <summary>A group of items that run as one padded forward pass.</summary>
/// <param name="Items">In arrival order.</param>
/// <param name="Windows">Rows of the padded batch.</param>
/// <param name="LongestWindow">Columns of the padded batch.</param>
/// <param name="Tokens">Real tokens (the rest is padding).</param>
/// <param name="MaxBatchTokens">The budget the batch was built against.</param>
internal sealed record DocumentBatch<T>(IReadOnlyList<T> Items, int Windows, int LongestWindow, int Tokens, int MaxBatchTokens)
{
    /// <summary>Tokens the model computes, padding included: longest × windows.</summary>
    public long PaddedTokens => (long)LongestWindow * Windows;

    /// <summary>Real tokens / padded tokens, in (0, 1]: how little of the batch is padding.</summary>
    public double FillRatio => PaddedTokens == 0 ? 0 : Tokens / (double)PaddedTokens;

    /// <summary>True when one item alone exceeded the budget and ran by itself.</summary>
    public bool OverBudget => PaddedTokens > MaxBatchTokens;
}
