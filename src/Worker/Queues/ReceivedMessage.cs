namespace Triage.Worker.Queues;

/// <summary>A locked message handed to the consumer. Settle it on the transport that received it.</summary>
internal sealed class ReceivedMessage
{
    public ReceivedMessage(string messageId, ReadOnlyMemory<byte> body, object lockToken)
    {
        MessageId = messageId;
        Body = body;
        LockToken = lockToken;
    }

    public string MessageId { get; }

    public ReadOnlyMemory<byte> Body { get; }

    public string? ContentType { get; init; }

    public IReadOnlyDictionary<string, object> ApplicationProperties { get; init; } = ApplicationPropertyValues.Empty;

    /// <summary>How many times the message has been handed out, this delivery included (starts at 1).</summary>
    public int DeliveryCount { get; init; }

    /// <summary>When the queue accepted the message.</summary>
    public DateTimeOffset EnqueuedTime { get; init; }

    /// <summary>When the lock expires unless renewed. <see cref="DateTimeOffset.MaxValue"/> for brokers whose locks
    /// last as long as the link (RabbitMQ).</summary>
    public DateTimeOffset LockedUntil { get; internal set; }

    /// <summary>Transport-private handle for settlement; each transport rejects tokens it did not issue.</summary>
    internal object LockToken { get; }

    public override string ToString() => $"{MessageId} (delivery {DeliveryCount})";
}
