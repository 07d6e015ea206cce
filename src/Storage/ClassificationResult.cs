namespace Triage.Storage;

/// <summary>
/// The outcome of classifying one document with one model version; one row of <c>classification_results</c>.
/// </summary>
/// <param name="DocumentId">Key, together with <paramref name="ModelVersion"/>.</param>
/// <param name="ModelVersion">Key, together with <paramref name="DocumentId"/>.</param>
/// <param name="Label">The predicted label.</param>
/// <param name="Confidence">Probability of <paramref name="Label"/>, in [0, 1]; the database rejects anything else.</param>
/// <param name="Probabilities">Label → probability, stored as a JSON object.</param>
/// <param name="Method">Attention method that produced it: <c>dense</c>, <c>ptc-…</c> or <c>ltp</c>.</param>
/// <param name="TokensInput">Tokens fed to the encoder.</param>
/// <param name="TokensAttended">Tokens attended over all layers (after pruning).</param>
/// <param name="ProcessedAt">When it was classified; stored in UTC (PostgreSQL keeps microseconds, SQLite 100 ns ticks).</param>
/// <param name="MessageId">Queue message id, when the document came from the queue.</param>
/// <param name="Attempt">Delivery count of that message.</param>
internal sealed record ClassificationResult(
    string DocumentId,
    string ModelVersion,
    string Label,
    double Confidence,
    IReadOnlyDictionary<string, double> Probabilities,
    string Method,
    int TokensInput,
    long TokensAttended,
    DateTimeOffset ProcessedAt,
    string? MessageId,
    int Attempt);
