using System.Globalization;
using Amqp;
using Amqp.Framing;
using Amqp.Sasl;
using Amqp.Types;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Polly;

namespace Triage.Worker.Queues.Amqp;

/// <summary>
/// Azure Service Bus (or any AMQP 1.0 broker) through AMQPNetLite, with the queue semantics of
/// <see cref="IQueueTransport"/>: peek-lock receive with credit no larger than the batch asked for, settlement by
/// outcome (accepted, modified/released, rejected with Service Bus dead-letter info), lock renewal via
/// <c>$management</c>, and reconnect with exponential backoff when the connection or a link drops.
/// </summary>
/// <remarks>
/// Settlement is sent settled (AMQPNetLite has no way to wait for the broker's confirmation of a receiver's
/// disposition), so a complete that races a connection loss may not reach the broker: the message is then
/// redelivered, which at-least-once consumers handle anyway. A message received on a link that has since gone cannot
/// be settled at all: that throws <see cref="MessageLockLostException"/>.
/// </remarks>
internal sealed class AmqpQueueTransport : IQueueTransport
{
    private static readonly Symbol DeadLetterCondition = new("com.microsoft:dead-letter");
    private static readonly Symbol DeadLetterReasonKey = new("DeadLetterReason");
    private static readonly Symbol DeadLetterDescriptionKey = new("DeadLetterErrorDescription");
    private static readonly Symbol EnqueuedTimeAnnotation = new("x-opt-enqueued-time");
    private static readonly Symbol LockedUntilAnnotation = new("x-opt-locked-until");
    private static readonly Symbol LockTokenAnnotation = new("x-opt-lock-token");
    private static readonly Symbol DeliveryCountAnnotation = new("x-delivery-count");
    private const string DeliveryCountProperty = "x-delivery-count";

    private static readonly TimeSpan MinimumReceiveTimeout = TimeSpan.FromMilliseconds(1);

    // Service Bus caps dead-letter reason and description at 4096 characters each.
    private const int MaxDeadLetterText = 4096;

    private readonly AmqpQueueOptions _options;
    private readonly AmqpEndpoint _endpoint;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline _retry;
    private readonly AbandonOutcome _abandonOutcome;
    private readonly ReceiverSettleMode _settleMode;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private readonly SemaphoreSlim _receiveLock = new(1, 1);
    private AmqpLinkSet? _links;
    private volatile bool _disposed;

    public AmqpQueueTransport(IOptions<AmqpQueueOptions> options, TimeProvider time, ILogger<AmqpQueueTransport>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _endpoint = AmqpEndpoint.Parse(_options.ConnectionString);
        EntityPath = _options.EntityPath is { Length: > 0 } configured ? configured : _endpoint.EntityPath
            ?? throw new FormatException($"No queue to use: set {AmqpQueueOptions.SectionName}:EntityPath or EntityPath in the connection string.");
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _retry = AmqpRetry.Create(_options, _logger, () => _disposed);
        _abandonOutcome = _options.AbandonOutcome != AbandonOutcome.Auto
            ? _options.AbandonOutcome
            : _endpoint.Broker == AmqpBrokerKind.ServiceBus ? AbandonOutcome.Modified : AbandonOutcome.Released;
        _settleMode = _options.ReceiverSettleMode switch
        {
            ReceiverSettleModeOption.First => ReceiverSettleMode.First,
            ReceiverSettleModeOption.Second => ReceiverSettleMode.Second,
            _ => _endpoint.Broker == AmqpBrokerKind.ServiceBus ? ReceiverSettleMode.Second : ReceiverSettleMode.First,
        };
    }

    /// <summary>The queue address this transport sends to and receives from.</summary>
    public string EntityPath { get; }

    public AmqpBrokerKind Broker => _endpoint.Broker;

    /// <summary>The configured dead-letter address, or Service Bus's <c>&lt;entity&gt;/$DeadLetterQueue</c>.</summary>
    public string? DeadLetterAddress => _options.DeadLetterAddress is { Length: > 0 } address
        ? address
        : _endpoint.Broker == AmqpBrokerKind.ServiceBus ? EntityPath + "/$DeadLetterQueue" : null;

    /// <summary>A transport on the dead-letter queue, to inspect or drain it.</summary>
    public AmqpQueueTransport OpenDeadLetterQueue(ILogger<AmqpQueueTransport>? logger = null)
    {
        var address = DeadLetterAddress ?? throw new InvalidOperationException(
            $"Set {AmqpQueueOptions.SectionName}:DeadLetterAddress: this broker has no standard dead-letter address.");
        var options = new AmqpQueueOptions
        {
            ConnectionString = _options.ConnectionString,
            EntityPath = address,
            DeadLetterAddress = address,
            AbandonOutcome = _options.AbandonOutcome,
            ReceiverSettleMode = _options.ReceiverSettleMode,
            OperationTimeout = _options.OperationTimeout,
            TokenLifetime = _options.TokenLifetime,
            BatchLinger = _options.BatchLinger,
            ReconnectDelay = _options.ReconnectDelay,
            ReconnectMaxDelay = _options.ReconnectMaxDelay,
            ReconnectMaxAttempts = _options.ReconnectMaxAttempts,
        };
        return new AmqpQueueTransport(Options.Create(options), _time, logger);
    }

    public async Task SendAsync(OutgoingMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentException.ThrowIfNullOrEmpty(message.MessageId);
        ApplicationPropertyValues.Validate(message.ApplicationProperties);
        await RunAsync(
            "send",
            async (links, token) =>
            {
                // A fresh AMQP message per attempt: one that went out on a failed link still carries that delivery.
                await links.Sender().SendAsync(ToAmqp(message), _options.OperationTimeout).WaitAsync(token).ConfigureAwait(false);
                return true;
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ReceivedMessage>> ReceiveAsync(int maxMessages, TimeSpan maxWait, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessages, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxWait, TimeSpan.Zero);
        var deadline = _time.GetUtcNow() + maxWait;
        await _receiveLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await RunAsync("receive", (links, token) => ReceiveBatchAsync(links, maxMessages, deadline, token), cancellationToken)
                .ConfigureAwait(false);
        }
        finally
        {
            _receiveLock.Release();
        }
    }

    public Task CompleteAsync(ReceivedMessage message, CancellationToken cancellationToken)
    {
        Settle(message, "complete", static (link, m) => link.Accept(m));
        return Task.CompletedTask;
    }

    public Task AbandonAsync(ReceivedMessage message, CancellationToken cancellationToken)
    {
        if (_abandonOutcome == AbandonOutcome.Modified)
        {
            Settle(message, "abandon", static (link, m) => link.Modify(m, deliveryFailed: true, undeliverableHere: false));
        }
        else
        {
            Settle(message, "abandon", static (link, m) => link.Release(m));
        }

        return Task.CompletedTask;
    }

    public Task DeadLetterAsync(ReceivedMessage message, string reason, string description, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        var error = new Error(DeadLetterCondition)
        {
            Description = Truncate(description ?? string.Empty),
            Info = new Fields
            {
                [DeadLetterReasonKey] = Truncate(reason),
                [DeadLetterDescriptionKey] = Truncate(description ?? string.Empty),
            },
        };
        Settle(message, "dead-letter", (link, m) => link.Reject(m, error));
        QueueLog.DeadLettered(_logger, message.MessageId, reason);
        return Task.CompletedTask;
    }

    public async Task<DateTimeOffset> RenewLockAsync(ReceivedMessage message, CancellationToken cancellationToken)
    {
        var token = LiveToken(message);
        if (_endpoint.Broker != AmqpBrokerKind.ServiceBus)
        {
            // Other brokers hold the delivery for as long as the link lives; there is no lock to extend.
            return message.LockedUntil;
        }

        var links = token.Links;
        try
        {
            var lockedUntil = await ServiceBusManagement.RenewLockAsync(
                links.Management(), token.LockToken, token.Receiver.Name, _options.OperationTimeout, cancellationToken).ConfigureAwait(false);
            message.LockedUntil = lockedUntil;
            return lockedUntil;
        }
        catch (AmqpException exception) when (links.IsBroken)
        {
            throw new MessageLockLostException($"The link that holds message '{message.MessageId}' dropped during lock renewal.", exception);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _connectLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_links is not null)
            {
                await _links.DisposeAsync().ConfigureAwait(false);
                _links = null;
            }
        }
        finally
        {
            _connectLock.Release();
        }
    }

    private async Task<IReadOnlyList<ReceivedMessage>> ReceiveBatchAsync(AmqpLinkSet links, int maxMessages, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        var receiver = links.Receiver();

        // Credit never exceeds the batch: Service Bus locks a message the moment it is sent to us, so a prefetched
        // message's lock would tick down while it waits in the buffer.
        var topUp = maxMessages - links.Granted;
        if (topUp > 0)
        {
            receiver.SetCredit(topUp, CreditMode.Manual);
            links.Granted += topUp;
        }

        var first = await WaitForFirstAsync(receiver, deadline, cancellationToken).ConfigureAwait(false);
        if (first is null)
        {
            return [];
        }

        links.Granted--;
        var batch = new List<ReceivedMessage>(maxMessages) { ToReceived(first, links, receiver) };
        while (batch.Count < maxMessages)
        {
            var next = await ReceiveOneAsync(receiver, _options.BatchLinger).ConfigureAwait(false);
            if (next is null)
            {
                break;
            }

            links.Granted--;
            batch.Add(ToReceived(next, links, receiver));
        }

        return batch;
    }

    private async Task<Message?> WaitForFirstAsync(ReceiverLink receiver, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        // AMQPNetLite's receive takes a timeout but no token: wait in slices so cancellation is noticed. A timed-out
        // wait unregisters itself, so a message arriving later stays buffered for the next call, not lost.
        var slice = TimeSpan.FromMilliseconds(500);
        var wait = deadline - _time.GetUtcNow();
        if (wait < _options.BatchLinger)
        {
            wait = _options.BatchLinger; // even "no wait" gives the broker one round trip to use the new credit
        }

        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var message = await ReceiveOneAsync(receiver, wait < slice ? wait : slice).ConfigureAwait(false);
            if (message is not null)
            {
                return message;
            }

            wait = deadline - _time.GetUtcNow();
            if (wait <= TimeSpan.Zero)
            {
                return null;
            }
        }
    }

    /// <summary>AMQPNetLite's <c>ReceiveAsync</c> never completes when the timeout rounds down to 0 ms and no message
    /// is buffered, so never pass it less than a millisecond.</summary>
    private static Task<Message> ReceiveOneAsync(ReceiverLink receiver, TimeSpan timeout) =>
        receiver.ReceiveAsync(timeout < MinimumReceiveTimeout ? MinimumReceiveTimeout : timeout);

    private ReceivedMessage ToReceived(Message message, AmqpLinkSet links, ReceiverLink receiver)
    {
        var annotations = message.MessageAnnotations;
        var lockToken = message.DeliveryTag is { Length: 16 } tag
            ? new Guid(tag) // Service Bus: the delivery tag is the lock token, in .NET Guid byte order
            : annotations?[LockTokenAnnotation] as Guid? ?? Guid.Empty;

        // Service Bus reports deliveries before this one in the header (delivery-count 0 on the first) and does not
        // use first-acquirer; RabbitMQ 3.10 leaves the count at 0 but clears first-acquirer on a redelivery (its
        // quorum queues count in an x-delivery-count header, which newer versions may pass on).
        var previous = (long)(message.Header?.DeliveryCount ?? 0);
        if ((annotations?[DeliveryCountAnnotation] ?? message.ApplicationProperties?.Map[DeliveryCountProperty]) is { } counted)
        {
            previous = Math.Max(previous, Convert.ToInt64(counted, CultureInfo.InvariantCulture));
        }

        if (previous == 0 && _endpoint.Broker == AmqpBrokerKind.Generic && message.Header is { FirstAcquirer: false })
        {
            previous = 1;
        }

        var now = _time.GetUtcNow();
        var properties = message.ApplicationProperties?.Map is { Count: > 0 } map
            ? ApplicationPropertyValues.NormalizeAll(map.Select(p => new KeyValuePair<string, object?>((string)p.Key, p.Value)), strict: false)
            : ApplicationPropertyValues.Empty;
        var messageId = Convert.ToString(message.Properties?.GetMessageId(), CultureInfo.InvariantCulture);

        return new ReceivedMessage(
            string.IsNullOrEmpty(messageId) ? lockToken.ToString() : messageId,
            BodyOf(message),
            new AmqpLockToken(links, receiver, message, lockToken))
        {
            ContentType = message.Properties?.ContentType?.ToString(),
            ApplicationProperties = properties,
            DeliveryCount = (int)Math.Min(int.MaxValue, previous + 1),
            EnqueuedTime = Utc(annotations?[EnqueuedTimeAnnotation] as DateTime?)
                ?? Utc(message.Properties is { } p && p.CreationTime > DateTime.MinValue ? p.CreationTime : null)
                ?? now,
            LockedUntil = Utc(annotations?[LockedUntilAnnotation] as DateTime?) ?? DateTimeOffset.MaxValue,
        };
    }

    private static ReadOnlyMemory<byte> BodyOf(Message message) => message.BodySection switch
    {
        Data data => data.Binary ?? [],
        DataList list => Concat(list),
        AmqpValue { Value: byte[] bytes } => bytes,
        AmqpValue { Value: string text } => System.Text.Encoding.UTF8.GetBytes(text),
        AmqpValue { Value: { } other } => System.Text.Encoding.UTF8.GetBytes(Convert.ToString(other, CultureInfo.InvariantCulture) ?? string.Empty),
        _ => ReadOnlyMemory<byte>.Empty,
    };

    private static byte[] Concat(DataList list)
    {
        using var buffer = new MemoryStream();
        for (var i = 0; i < list.Count; i++)
        {
            var binary = list[i].Binary;
            if (binary is not null)
            {
                buffer.Write(binary);
            }
        }

        return buffer.ToArray();
    }

    private Message ToAmqp(OutgoingMessage message)
    {
        var amqp = new Message
        {
            // Durable so RabbitMQ persists it; Service Bus always does.
            Header = new Header { Durable = true },
            Properties = new Properties
            {
                MessageId = message.MessageId,
                // Brokers other than Service Bus add no enqueued-time annotation; this lets the receiver report one.
                CreationTime = _time.GetUtcNow().UtcDateTime,
            },
            BodySection = new Data { Binary = message.Body.ToArray() },
        };
        if (message.ContentType is { Length: > 0 } contentType)
        {
            amqp.Properties.ContentType = contentType;
        }

        if (message.ApplicationProperties.Count > 0)
        {
            amqp.ApplicationProperties = new ApplicationProperties();
            foreach (var (name, raw) in message.ApplicationProperties)
            {
                amqp.ApplicationProperties[name] = ApplicationPropertyValues.Normalize(name, raw) switch
                {
                    DateTimeOffset time => time.UtcDateTime, // AMQP timestamps are UTC milliseconds
                    var value => value,
                };
            }
        }

        return amqp;
    }

    private void Settle(ReceivedMessage message, string operation, Action<ReceiverLink, Message> settle)
    {
        var token = LiveToken(message);
        if (_endpoint.Broker == AmqpBrokerKind.ServiceBus && _time.GetUtcNow() >= message.LockedUntil)
        {
            // Service Bus would silently ignore a settled disposition for an expired lock; say so instead.
            throw new MessageLockLostException($"The lock on message '{message.MessageId}' expired at {message.LockedUntil:O}; it will be redelivered.");
        }

        try
        {
            settle(token.Receiver, token.Message);
        }
        catch (Exception exception) when (exception is AmqpException or InvalidOperationException or ObjectDisposedException)
        {
            (token.Links).Invalidate();
            QueueLog.AmqpOperationFailed(_logger, exception, operation);
            throw new MessageLockLostException($"Message '{message.MessageId}' cannot be settled: its link is gone. It will be redelivered.", exception);
        }
    }

    private AmqpLockToken LiveToken(ReceivedMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var token = message.LockToken as AmqpLockToken
            ?? throw new ArgumentException("The message was not received from an AMQP transport.", nameof(message));
        var links = token.Links;
        if (!ReferenceEquals(links, _links) || links.IsBroken)
        {
            throw new MessageLockLostException(
                $"Message '{message.MessageId}' arrived on a connection that has since dropped; the broker will redeliver it.");
        }

        return token;
    }

    /// <summary>Runs an operation on a live connection, reconnecting with backoff when it or a link has dropped.</summary>
    private async Task<T> RunAsync<T>(string operation, Func<AmqpLinkSet, CancellationToken, Task<T>> action, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return await _retry.ExecuteAsync(
            async token =>
            {
                var links = await GetLinksAsync(token).ConfigureAwait(false);
                try
                {
                    return await action(links, token).ConfigureAwait(false);
                }
                catch (Exception exception) when (AmqpRetry.IsTransient(exception))
                {
                    links.Invalidate();
                    QueueLog.AmqpOperationFailed(_logger, exception, operation);
                    throw;
                }
            },
            cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<AmqpLinkSet> GetLinksAsync(CancellationToken cancellationToken)
    {
        var current = _links;
        if (current is { IsBroken: false } && _time.GetUtcNow() < current.TokenRenewAt)
        {
            return current;
        }

        await _connectLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            current = _links;
            if (current is { IsBroken: false })
            {
                if (_time.GetUtcNow() >= current.TokenRenewAt)
                {
                    await PutTokenAsync(current, cancellationToken).ConfigureAwait(false);
                }

                return current;
            }

            if (current is not null)
            {
                _links = null;
                await current.DisposeAsync().ConfigureAwait(false);
            }

            _links = await ConnectAsync(cancellationToken).ConfigureAwait(false);
            return _links;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    private async Task<AmqpLinkSet> ConnectAsync(CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory();
        factory.AMQP.ContainerId = $"triage-{Environment.ProcessId}-{Guid.NewGuid():N}";
        Address address;
        if (_endpoint.Broker == AmqpBrokerKind.ServiceBus)
        {
            // Service Bus authenticates per entity through $cbs, after an anonymous SASL exchange.
            factory.SASL.Profile = SaslProfile.Anonymous;
            address = new Address(_endpoint.Host, _endpoint.Port, null, null, "/", _endpoint.UseTls ? "amqps" : "amqp");
        }
        else
        {
            // With a user, AMQPNetLite negotiates SASL PLAIN.
            address = new Address(_endpoint.Host, _endpoint.Port, _endpoint.UserName, _endpoint.Password, "/", _endpoint.UseTls ? "amqps" : "amqp");
        }

        Connection connection;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(_options.OperationTimeout);
            try
            {
                connection = await factory.CreateAsync(address, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Connecting to {_endpoint.Host}:{_endpoint.Port} took longer than {_options.OperationTimeout}.");
            }
        }

        var links = new AmqpLinkSet(connection, new Session(connection), EntityPath, _settleMode);
        try
        {
            if (_endpoint.Broker == AmqpBrokerKind.ServiceBus)
            {
                links.Cbs = new AmqpRequestResponseLink(links.Session, ServiceBusCbs.Node);
                await PutTokenAsync(links, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            await links.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        connection.Closed += (_, error) =>
        {
            if (!_disposed)
            {
                QueueLog.AmqpConnectionLost(_logger, _endpoint.Host, _endpoint.Port, AmqpRetry.Describe(error));
            }
        };
        QueueLog.AmqpConnected(_logger, _endpoint.Host, _endpoint.Port, _endpoint.Broker.ToString(), EntityPath);
        return links;
    }

    private async Task PutTokenAsync(AmqpLinkSet links, CancellationToken cancellationToken)
    {
        var audience = _endpoint.AudienceFor(EntityPath);
        var now = _time.GetUtcNow();
        var expiresAt = now + _options.TokenLifetime;
        var token = SharedAccessSignature.Create(audience, _endpoint.KeyName!, _endpoint.Key!, expiresAt);
        await ServiceBusCbs.PutTokenAsync(links.Cbs!, audience, token, _options.OperationTimeout, cancellationToken).ConfigureAwait(false);
        // Renew well before expiry: Service Bus closes the links of an entity whose token lapsed.
        links.TokenRenewAt = now + (_options.TokenLifetime * 0.8);
        QueueLog.CbsTokenPut(_logger, audience, expiresAt);
    }

    private static DateTimeOffset? Utc(DateTime? value) =>
        value is { } time ? new DateTimeOffset(DateTime.SpecifyKind(time, DateTimeKind.Utc)) : null;

    private static string Truncate(string text) => text.Length <= MaxDeadLetterText ? text : text[..MaxDeadLetterText];
}
