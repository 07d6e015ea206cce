namespace Triage.Worker.Queues;

/// <summary>
/// A queue with Azure Service Bus peek-lock semantics: a received message stays locked (invisible to other
/// consumers) until it is completed, abandoned, dead-lettered, or its lock expires.
/// </summary>
/// <remarks>
/// Delivery is at-least-once: a message whose lock is lost (expiry, dropped link) comes back with a higher
/// <see cref="ReceivedMessage.DeliveryCount"/>, so consumers must write results idempotently.
/// Settling a message whose lock is gone throws <see cref="MessageLockLostException"/>.
/// </remarks>
internal interface IQueueTransport : IAsyncDisposable
{
    /// <summary>Enqueues a message. With de-duplication on, a second send of the same MessageId inside the
    /// window is accepted and dropped (as Service Bus does).</summary>
    Task SendAsync(OutgoingMessage message, CancellationToken cancellationToken);

    /// <summary>Receives and locks up to <paramref name="maxMessages"/> messages. Waits up to
    /// <paramref name="maxWait"/> for the first one and returns an empty list when none arrives.</summary>
    Task<IReadOnlyList<ReceivedMessage>> ReceiveAsync(int maxMessages, TimeSpan maxWait, CancellationToken cancellationToken);

    /// <summary>Removes the message from the queue.</summary>
    Task CompleteAsync(ReceivedMessage message, CancellationToken cancellationToken);

    /// <summary>Releases the lock so the message is delivered again (its delivery count goes up by one). A message
    /// that has reached the maximum delivery count is dead-lettered with reason
    /// <see cref="DeadLetterReasons.MaxDeliveryCountExceeded"/> instead.</summary>
    Task AbandonAsync(ReceivedMessage message, CancellationToken cancellationToken);

    /// <summary>Moves the message to the dead-letter queue with an application reason and description.</summary>
    Task DeadLetterAsync(ReceivedMessage message, string reason, string description, CancellationToken cancellationToken);

    /// <summary>Extends the lock by the queue's lock duration and returns the new expiry.</summary>
    Task<DateTimeOffset> RenewLockAsync(ReceivedMessage message, CancellationToken cancellationToken);
}
