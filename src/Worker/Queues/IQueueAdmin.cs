namespace Triage.Worker.Queues;

/// <summary>Inspection and repair of a queue, for the <c>status</c> and <c>dead-letters</c> commands.</summary>
internal interface IQueueAdmin
{
    Task<QueueCounts> GetCountsAsync(CancellationToken cancellationToken);

    /// <summary>Dead letters, oldest first.</summary>
    Task<IReadOnlyList<DeadLetteredMessage>> ListDeadLettersAsync(int limit, CancellationToken cancellationToken);

    /// <summary>Moves dead letters back to the queue with a fresh delivery count; all of them when
    /// <paramref name="messageIds"/> is null. Returns how many moved.</summary>
    Task<int> RequeueDeadLettersAsync(IReadOnlyCollection<string>? messageIds, CancellationToken cancellationToken);
}

/// <param name="Queued">Visible and waiting for a consumer (expired locks included).</param>
/// <param name="Locked">Held by a consumer under an unexpired lock.</param>
/// <param name="Completed">Completed since the queue file was created.</param>
/// <param name="DeadLettered">Messages in the dead-letter queue.</param>
/// <param name="DeadLetteredByReason">Dead letters per reason.</param>
internal sealed record QueueCounts(
    long Queued,
    long Locked,
    long Completed,
    long DeadLettered,
    IReadOnlyDictionary<string, long> DeadLetteredByReason);

internal sealed record DeadLetteredMessage(
    string MessageId,
    string Reason,
    string Description,
    int DeliveryCount,
    DateTimeOffset EnqueuedTime,
    DateTimeOffset DeadLetteredTime,
    string? ContentType,
    ReadOnlyMemory<byte> Body);
