namespace Triage.Worker.Queues;

/// <summary>A message to enqueue.</summary>
/// <param name="MessageId">Application-supplied id; the key for duplicate detection.</param>
/// <param name="Body">The payload bytes.</param>
internal sealed record OutgoingMessage(string MessageId, ReadOnlyMemory<byte> Body)
{
    /// <summary>MIME type of <see cref="Body"/>, e.g. <c>application/json</c> or <c>text/plain</c>; null when unknown.</summary>
    public string? ContentType { get; init; }

    /// <summary>User properties. Values must be string, bool, an integer, a floating-point number, Guid or
    /// DateTimeOffset (what both transports can carry); see <see cref="ApplicationPropertyValues"/>.</summary>
    public IReadOnlyDictionary<string, object> ApplicationProperties { get; init; } = ApplicationPropertyValues.Empty;
}
