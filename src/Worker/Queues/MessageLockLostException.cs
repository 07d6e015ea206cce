namespace Triage.Worker.Queues;

/// <summary>
/// The message can no longer be settled: its lock expired, another consumer holds it now, or the link it arrived on
/// is gone. The worker must not treat its result as committed to the queue; the message will be redelivered.
/// </summary>
public sealed class MessageLockLostException : Exception
{
    public MessageLockLostException()
    {
    }

    public MessageLockLostException(string message)
        : base(message)
    {
    }

    public MessageLockLostException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
