namespace Triage.Worker.Queues;

/// <summary>Dead-letter reasons set by the transports themselves (the names Service Bus uses).</summary>
internal static class DeadLetterReasons
{
    /// <summary>The message was delivered MaxDeliveryCount times without being completed.</summary>
    public const string MaxDeliveryCountExceeded = nameof(MaxDeliveryCountExceeded);
}
