using Amqp;
using Amqp.Framing;

namespace Triage.Worker.Queues.Amqp;

/// <summary>
/// One connection with its session and links. It is replaced as a whole when any part breaks: deliveries belong to
/// their link, so after a reconnect nothing received earlier can be settled anyway.
/// </summary>
internal sealed class AmqpLinkSet : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly string _entityPath;
    private SenderLink? _sender;
    private ReceiverLink? _receiver;
    private AmqpRequestResponseLink? _management;
    private volatile bool _invalidated;

    private readonly ReceiverSettleMode _settleMode;

    public AmqpLinkSet(Connection connection, Session session, string entityPath, ReceiverSettleMode settleMode)
    {
        Connection = connection;
        Session = session;
        _entityPath = entityPath;
        _settleMode = settleMode;
    }

    public Connection Connection { get; }

    public Session Session { get; }

    /// <summary>The <c>$cbs</c> link (Service Bus only), kept open to renew the token.</summary>
    public AmqpRequestResponseLink? Cbs { get; set; }

    /// <summary>When the entity's token should be put again.</summary>
    public DateTimeOffset TokenRenewAt { get; set; } = DateTimeOffset.MaxValue;

    /// <summary>Credit issued to the receiver and not yet consumed by a receive call: messages the broker may still
    /// send plus messages buffered in the link. Only touched under the transport's receive lock.</summary>
    public int Granted { get; set; }

    public bool IsBroken =>
        _invalidated || Connection.IsClosed || Session.IsClosed || Cbs is { IsClosed: true }
        || _sender is { IsClosed: true } || _receiver is { IsClosed: true };

    /// <summary>Marks the set as unusable after an operation failed on it, so the next call reconnects.</summary>
    public void Invalidate() => _invalidated = true;

    public SenderLink Sender()
    {
        lock (_gate)
        {
            return _sender ??= new SenderLink(Session, $"triage-sender-{Guid.NewGuid():N}", new Target { Address = _entityPath }, null);
        }
    }

    public ReceiverLink Receiver()
    {
        lock (_gate)
        {
            // Peek-lock: unsettled sends (the broker keeps the message locked until our disposition), with
            // receiver-settle-mode second for Service Bus. No credit is issued here; receive calls issue exactly
            // what they ask for.
            return _receiver ??= new ReceiverLink(
                Session,
                $"triage-receiver-{Guid.NewGuid():N}",
                new Attach
                {
                    Source = new Source { Address = _entityPath },
                    Target = new Target(),
                    SndSettleMode = SenderSettleMode.Unsettled,
                    RcvSettleMode = _settleMode,
                },
                null);
        }
    }

    public AmqpRequestResponseLink Management()
    {
        lock (_gate)
        {
            return _management ??= new AmqpRequestResponseLink(Session, _entityPath + ServiceBusManagement.NodeSuffix);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Closing the connection ends every link; the broker puts unsettled deliveries back on the queue, and
        // pending $cbs/$management requests fail through their links' Closed events.
        _invalidated = true;
        await AmqpRequestResponseLink.CloseQuietlyAsync(Connection).ConfigureAwait(false);
    }
}
