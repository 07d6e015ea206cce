using Amqp;

namespace Triage.Worker.Queues.Amqp;

/// <summary>What settling an AMQP delivery needs: the link it arrived on (deliveries cannot be settled on any other)
/// and, for Service Bus, the lock token (the delivery tag as a Guid).</summary>
internal sealed record AmqpLockToken(AmqpLinkSet Links, ReceiverLink Receiver, Message Message, Guid LockToken);
