using System.Collections.Concurrent;
using System.Globalization;
using Amqp;
using Amqp.Framing;

namespace Triage.Worker.Queues.Amqp;

/// <summary>
/// The AMQP request-response pattern Service Bus uses for <c>$cbs</c> and <c>$management</c>: a sender to the node
/// and a receiver from it whose target is a private reply-to address; responses are matched to requests by
/// correlation id.
/// </summary>
internal sealed class AmqpRequestResponseLink : IAsyncDisposable
{
    private readonly SenderLink _sender;
    private readonly ReceiverLink _receiver;
    private readonly string _replyTo;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<Message>> _pending = new(StringComparer.Ordinal);

    public AmqpRequestResponseLink(Session session, string nodeAddress)
    {
        ArgumentNullException.ThrowIfNull(session);
        NodeAddress = nodeAddress;
        var suffix = Guid.NewGuid().ToString("N");
        _replyTo = $"triage-reply-{suffix}";
        _sender = new SenderLink(session, $"triage-{nodeAddress}-sender-{suffix}", new Target { Address = nodeAddress }, null);
        _receiver = new ReceiverLink(
            session,
            $"triage-{nodeAddress}-receiver-{suffix}",
            new Attach { Source = new Source { Address = nodeAddress }, Target = new Target { Address = _replyTo } },
            null);
        _receiver.Start(50, OnResponse);
        _receiver.Closed += (_, error) => FailPending(error);
        _sender.Closed += (_, error) => FailPending(error);
    }

    public string NodeAddress { get; }

    public bool IsClosed => _sender.IsClosed || _receiver.IsClosed;

    /// <summary>Sends <paramref name="request"/> (message id and reply-to are set here) and waits for its response.</summary>
    public async Task<Message> RequestAsync(Message request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var id = Guid.NewGuid().ToString();
        request.Properties ??= new Properties();
        request.Properties.MessageId = id;
        request.Properties.ReplyTo = _replyTo;
        var response = new TaskCompletionSource<Message>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = response;
        try
        {
            await _sender.SendAsync(request, timeout).WaitAsync(cancellationToken).ConfigureAwait(false);
            return await response.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    public async ValueTask DisposeAsync()
    {
        FailPending(null);
        await CloseQuietlyAsync(_sender).ConfigureAwait(false);
        await CloseQuietlyAsync(_receiver).ConfigureAwait(false);
    }

    internal static async Task CloseQuietlyAsync(AmqpObject amqpObject)
    {
        if (amqpObject.IsClosed)
        {
            return;
        }

        try
        {
            await amqpObject.CloseAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is AmqpException or TimeoutException or ObjectDisposedException or InvalidOperationException)
        {
            // Closing something already broken: nothing left to do.
        }
    }

    private void OnResponse(IReceiverLink link, Message message)
    {
        link.Accept(message);
        var correlation = Convert.ToString(message.Properties?.GetCorrelationId(), CultureInfo.InvariantCulture);
        if (correlation is not null && _pending.TryRemove(correlation, out var waiter))
        {
            waiter.TrySetResult(message);
        }
    }

    private void FailPending(Error? error)
    {
        foreach (var id in _pending.Keys)
        {
            if (_pending.TryRemove(id, out var waiter))
            {
                waiter.TrySetException(new AmqpException(error ?? new Error(ErrorCode.DetachForced) { Description = $"The {NodeAddress} link closed." }));
            }
        }
    }
}
