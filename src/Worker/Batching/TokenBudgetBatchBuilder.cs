namespace Triage.Worker.Batching;

/// <summary>
/// Groups items into padded batches under a token budget, the way text-embeddings-inference does for padded
/// backends (longest × rows ≤ budget), with one open batch per length bucket so short documents are not padded to
/// the length of long ones. Pure and single-threaded: <see cref="MicroBatcher{T}"/> drives it with a clock.
/// </summary>
internal sealed class TokenBudgetBatchBuilder<T>
{
    /// <summary>Upper bounds (inclusive) of the length buckets; powers of two cut padding to at most half.</summary>
    internal static readonly int[] BucketBounds = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, int.MaxValue];

    private readonly int _maxTokens;
    private readonly int _maxDocuments;
    private readonly TimeSpan _maxWait;
    private readonly OpenBatch?[] _open = new OpenBatch?[BucketBounds.Length];

    public TokenBudgetBatchBuilder(int maxBatchTokens, int maxBatchDocuments, TimeSpan maxWait)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatchTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatchDocuments, 1);
        _maxTokens = maxBatchTokens;
        _maxDocuments = maxBatchDocuments;
        _maxWait = maxWait;
    }

    public TokenBudgetBatchBuilder(BatchingOptions options)
        : this(options.MaxBatchTokens, options.MaxBatchDocuments, options.MaxWait)
    {
    }

    /// <summary>Items waiting in open batches.</summary>
    public int PendingCount => _open.Sum(b => b?.Items.Count ?? 0);

    /// <summary>When the oldest open batch must go, or null when nothing is pending.</summary>
    public DateTimeOffset? NextDeadline => _open.Where(b => b is not null).Select(b => (DateTimeOffset?)b!.Deadline).Min();

    /// <summary>Adds an item; returns the batches that became ready (none, or the bucket's previous batch, or a
    /// full one, or the item alone when it exceeds the budget by itself).</summary>
    public IReadOnlyList<DocumentBatch<T>> Add(T item, BatchCost cost, DateTimeOffset now)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cost.Windows, 1, nameof(cost));
        if (cost.PaddedTokens > _maxTokens)
        {
            return [new DocumentBatch<T>([item], cost.Windows, cost.LongestWindow, cost.Tokens, _maxTokens)];
        }

        var ready = new List<DocumentBatch<T>>(2);
        var bucket = BucketOf(cost.LongestWindow);
        var open = _open[bucket];
        if (open is not null && !open.Fits(cost, _maxTokens))
        {
            ready.Add(open.Close(_maxTokens));
            open = null;
        }

        open ??= _open[bucket] = new OpenBatch(now + _maxWait);
        open.Add(item, cost);

        // Ready when no further document could join: the count cap, or not even one more shortest window fits.
        if (open.Items.Count >= _maxDocuments || (long)open.Longest * (open.Windows + 1) > _maxTokens)
        {
            ready.Add(open.Close(_maxTokens));
            _open[bucket] = null;
        }

        return ready;
    }

    /// <summary>Batches whose first item has waited <c>MaxWait</c>, oldest first.</summary>
    public IReadOnlyList<DocumentBatch<T>> TakeDue(DateTimeOffset now) => Take(b => b.Deadline <= now);

    /// <summary>Everything pending, oldest first (end of input).</summary>
    public IReadOnlyList<DocumentBatch<T>> FlushAll() => Take(_ => true);

    internal static int BucketOf(int longestWindow)
    {
        for (var i = 0; i < BucketBounds.Length; i++)
        {
            if (longestWindow <= BucketBounds[i])
            {
                return i;
            }
        }

        return BucketBounds.Length - 1;
    }

    private List<DocumentBatch<T>> Take(Func<OpenBatch, bool> predicate)
    {
        var taken = new List<(DateTimeOffset Deadline, DocumentBatch<T> Batch)>();
        for (var i = 0; i < _open.Length; i++)
        {
            if (_open[i] is { } open && predicate(open))
            {
                taken.Add((open.Deadline, open.Close(_maxTokens)));
                _open[i] = null;
            }
        }

        return taken.OrderBy(t => t.Deadline).Select(t => t.Batch).ToList();
    }

    private sealed class OpenBatch(DateTimeOffset deadline)
    {
        public DateTimeOffset Deadline { get; } = deadline;

        public List<T> Items { get; } = [];

        public int Windows { get; private set; }

        public int Longest { get; private set; }

        public int Tokens { get; private set; }

        public bool Fits(BatchCost cost, int maxTokens) =>
            (long)Math.Max(Longest, cost.LongestWindow) * (Windows + cost.Windows) <= maxTokens;

        public void Add(T item, BatchCost cost)
        {
            Items.Add(item);
            Windows += cost.Windows;
            Longest = Math.Max(Longest, cost.LongestWindow);
            Tokens += cost.Tokens;
        }

        public DocumentBatch<T> Close(int maxTokens) => new(Items.ToArray(), Windows, Longest, Tokens, maxTokens);
    }
}
