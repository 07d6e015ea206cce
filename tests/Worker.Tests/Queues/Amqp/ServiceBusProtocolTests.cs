using System.Text;
using System.Text.RegularExpressions;
using Amqp;
using Amqp.Framing;
using Amqp.Types;
using Microsoft.Extensions.Options;
using Triage.Worker.Queues;
using Triage.Worker.Queues.Amqp;
using Triage.Worker.Tests.Fakes;

namespace Triage.Worker.Tests.Queues.Amqp;

/// <summary>The Service Bus–only protocol pieces, checked frame by frame against <see cref="ServiceBusPeer"/>
/// (see its remarks for what that proves and what only a real namespace would).</summary>
public sealed partial class ServiceBusProtocolTests : IDisposable
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15); // generous for loaded CI machines; waits end as soon as the message arrives
    private readonly ServiceBusPeer _peer = new();
    private readonly List<AmqpQueueTransport> _transports = [];

    public void Dispose()
    {
        foreach (var transport in _transports)
        {
            transport.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        _peer.Dispose();
    }

    private AmqpQueueTransport Transport(Action<AmqpQueueOptions>? configure = null, TimeProvider? time = null, string? key = null)
    {
        var options = new AmqpQueueOptions
        {
            ConnectionString = _peer.ConnectionString(key),
            ReconnectDelay = TimeSpan.FromMilliseconds(50),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
            ReconnectMaxAttempts = 5,
            OperationTimeout = TimeSpan.FromSeconds(10),
        };
        configure?.Invoke(options);
        var transport = new AmqpQueueTransport(Options.Create(options), time ?? TimeProvider.System);
        _transports.Add(transport);
        return transport;
    }

    private static OutgoingMessage Text(string id) => new(id, Encoding.UTF8.GetBytes("body of " + id)) { ContentType = "text/plain" };

    [GeneratedRegex("^SharedAccessSignature sr=[^&]+&sig=[^&]+&se=[0-9]+&skn=[^&]+$")]
    private static partial Regex TokenFormat();

    [Fact]
    public async Task Connecting_puts_a_sas_token_that_verifies_with_the_key_before_attaching()
    {
        var transport = Transport();

        await transport.SendAsync(Text("a"), None);

        var request = Assert.Single(_peer.CbsRequests);
        Assert.Equal(("put-token", "servicebus.windows.net:sastoken", _peer.Audience), (request.Operation, request.Type, request.Name));
        Assert.Matches(TokenFormat(), request.Token);
        Assert.True(request.Valid, request.Why);
        Assert.Contains($"&skn={ServiceBusPeer.KeyName}", request.Token, StringComparison.Ordinal);
        var expiry = DateTimeOffset.FromUnixTimeSeconds(long.Parse(Regex.Match(request.Token, "se=([0-9]+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.InRange(expiry - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(59), TimeSpan.FromMinutes(61));
        Assert.Equal(1, _peer.Count(ServiceBusPeer.Entity));
    }

    [Fact]
    public async Task A_wrong_key_is_refused_through_cbs_without_retrying()
    {
        var transport = Transport(key: Convert.ToBase64String(Guid.NewGuid().ToByteArray()));

        var error = await Assert.ThrowsAsync<AmqpException>(() => transport.SendAsync(Text("a"), None));

        Assert.Equal(ErrorCode.UnauthorizedAccess, (string)error.Error.Condition);
        Assert.Contains("401", error.Error.Description, StringComparison.Ordinal);
        Assert.Equal("signature mismatch", Assert.Single(_peer.CbsRequests).Why);
        Assert.Equal(0, _peer.Count(ServiceBusPeer.Entity));
    }

    [Fact]
    public async Task The_token_is_renewed_on_the_open_connection_before_it_expires()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var transport = Transport(o => o.TokenLifetime = TimeSpan.FromMinutes(10), clock);
        await transport.SendAsync(Text("a"), None);

        clock.Advance(TimeSpan.FromMinutes(7));
        await transport.SendAsync(Text("b"), None);
        Assert.Single(_peer.CbsRequests);

        clock.Advance(TimeSpan.FromMinutes(1.5)); // past 80 % of the lifetime
        await transport.SendAsync(Text("c"), None);

        Assert.Equal(2, _peer.CbsRequests.Count);
        Assert.All(_peer.CbsRequests, r => Assert.True(r.Valid, r.Why));
        Assert.Equal(3, _peer.Count(ServiceBusPeer.Entity));
    }

    [Fact]
    public async Task Receivers_attach_in_peek_lock_mode_with_credit_no_larger_than_the_batch()
    {
        var producer = Transport();
        for (var i = 0; i < 10; i++)
        {
            await producer.SendAsync(Text($"m{i}"), None);
        }

        var consumer = Transport();
        var batch = await consumer.ReceiveAsync(3, Wait, None);
        var next = await consumer.ReceiveAsync(2, Wait, None);

        Assert.Equal(["m0", "m1", "m2"], batch.Select(m => m.MessageId));
        Assert.Equal(["m3", "m4"], next.Select(m => m.MessageId));
        var attach = Assert.Single(_peer.ReceiverAttaches);
        Assert.Equal(ReceiverSettleMode.Second, attach.RcvSettleMode);
        Assert.Equal(SenderSettleMode.Unsettled, attach.SndSettleMode);
        Assert.Equal(ServiceBusPeer.Entity, ((Source)attach.Source).Address);
        Assert.Equal(3, _peer.MaxCreditSeen);
        Assert.Equal(5, _peer.InFlightCount); // nothing beyond what was asked for was delivered (and locked)
    }

    [Fact]
    public async Task Received_messages_carry_lock_token_delivery_count_enqueued_time_and_lock_expiry()
    {
        var transport = Transport();
        await transport.SendAsync(
            new OutgoingMessage("doc-1", Encoding.UTF8.GetBytes("{}"))
            {
                ContentType = "application/json",
                ApplicationProperties = new Dictionary<string, object> { ["tenant"] = "acme", ["pages"] = 12 },
            },
            None);

        var message = Assert.Single(await transport.ReceiveAsync(1, Wait, None));

        var token = Assert.IsType<AmqpLockToken>(message.LockToken);
        Assert.Equal(Assert.Single(_peer.LockTokensInFlight()), token.LockToken);
        Assert.Equal(("doc-1", "{}", "application/json", 1), (message.MessageId, Encoding.UTF8.GetString(message.Body.Span), message.ContentType, message.DeliveryCount));
        Assert.Equal("acme", message.ApplicationProperties["tenant"]);
        Assert.Equal(12L, message.ApplicationProperties["pages"]);
        Assert.InRange(message.EnqueuedTime, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow);
        Assert.InRange(message.LockedUntil - DateTimeOffset.UtcNow, TimeSpan.FromSeconds(20), _peer.LockDuration);
    }

    [Fact]
    public async Task Complete_sends_accepted()
    {
        var transport = Transport();
        await transport.SendAsync(Text("a"), None);
        var message = Assert.Single(await transport.ReceiveAsync(1, Wait, None));

        await transport.CompleteAsync(message, None);

        var disposition = await Eventually.ReturnsAsync(() => Task.FromResult(_peer.Dispositions.ToList()), d => d.Count == 1, Wait, "a disposition");
        Assert.IsType<Accepted>(disposition[0].State);
        Assert.Equal(0, _peer.InFlightCount + _peer.Count(ServiceBusPeer.Entity));
    }

    [Fact]
    public async Task Abandon_sends_modified_with_delivery_failed_and_the_redelivery_counts_it()
    {
        var transport = Transport();
        await transport.SendAsync(Text("a"), None);
        var first = Assert.Single(await transport.ReceiveAsync(1, Wait, None));

        await transport.AbandonAsync(first, None);
        var second = Assert.Single(await transport.ReceiveAsync(1, Wait, None));

        var modified = Assert.IsType<Modified>(_peer.Dispositions[0].State);
        Assert.True(modified.DeliveryFailed);
        Assert.False(modified.UndeliverableHere);
        Assert.Equal(((AmqpLockToken)first.LockToken).LockToken, _peer.Dispositions[0].LockToken);
        Assert.Equal(("a", 2), (second.MessageId, second.DeliveryCount));
        Assert.NotEqual(((AmqpLockToken)first.LockToken).LockToken, ((AmqpLockToken)second.LockToken).LockToken);
    }

    [Fact]
    public async Task Dead_letter_sends_rejected_with_service_bus_reason_and_description_and_lands_in_the_dlq()
    {
        var transport = Transport();
        await transport.SendAsync(Text("poison"), None);
        var message = Assert.Single(await transport.ReceiveAsync(1, Wait, None));

        await transport.DeadLetterAsync(message, "MalformedJson", "Unexpected end of data.", None);

        var rejected = Assert.IsType<Rejected>((await Eventually.ReturnsAsync(
            () => Task.FromResult(_peer.Dispositions.ToList()), d => d.Count == 1, Wait, "a disposition"))[0].State);
        Assert.Equal("com.microsoft:dead-letter", (string)rejected.Error.Condition);
        Assert.Equal("MalformedJson", rejected.Error.Info[new Symbol("DeadLetterReason")]);
        Assert.Equal("Unexpected end of data.", rejected.Error.Info[new Symbol("DeadLetterErrorDescription")]);

        Assert.Equal("work/$DeadLetterQueue", transport.DeadLetterAddress);
        await using var deadLetters = transport.OpenDeadLetterQueue();
        var dead = Assert.Single(await deadLetters.ReceiveAsync(5, Wait, None));
        Assert.Equal(("poison", "MalformedJson"), (dead.MessageId, dead.ApplicationProperties["DeadLetterReason"]));
        await deadLetters.CompleteAsync(dead, None);
    }

    [Fact]
    public async Task Renew_lock_asks_management_for_the_delivery_tag_lock_token_and_returns_the_new_expiry()
    {
        var transport = Transport();
        await transport.SendAsync(Text("a"), None);
        var message = Assert.Single(await transport.ReceiveAsync(1, Wait, None));
        var before = message.LockedUntil;

        var lockedUntil = await transport.RenewLockAsync(message, None);

        var request = Assert.Single(_peer.ManagementRequests);
        Assert.Equal("com.microsoft:renew-lock", request.Operation);
        Assert.Equal([((AmqpLockToken)message.LockToken).LockToken], request.LockTokens);
        Assert.Equal(((AmqpLockToken)message.LockToken).Receiver.Name, request.AssociatedLinkName);
        Assert.IsType<uint>(request.ServerTimeout);
        Assert.True(lockedUntil >= before, $"{lockedUntil:O} < {before:O}");
        Assert.Equal(lockedUntil, message.LockedUntil);
        await transport.CompleteAsync(message, None);
    }

    [Fact]
    public async Task Renewing_a_lock_the_service_has_lost_throws_MessageLockLostException()
    {
        var transport = Transport();
        await transport.SendAsync(Text("a"), None);
        var message = Assert.Single(await transport.ReceiveAsync(1, Wait, None));
        _peer.ExpireLock(((AmqpLockToken)message.LockToken).LockToken);

        await Assert.ThrowsAsync<MessageLockLostException>(() => transport.RenewLockAsync(message, None));
    }

    [Fact]
    public async Task Settling_after_the_lock_expired_throws_MessageLockLostException()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var consumer = Transport(time: clock);
        await Transport().SendAsync(Text("a"), None);
        var message = Assert.Single(await consumer.ReceiveAsync(1, Wait, None));

        clock.Advance(_peer.LockDuration + TimeSpan.FromSeconds(1));

        // Service Bus would drop a settled disposition for an expired lock without a word; the transport says so.
        await Assert.ThrowsAsync<MessageLockLostException>(() => consumer.CompleteAsync(message, None));
        Assert.Empty(_peer.Dispositions);
    }

    [Fact]
    public async Task After_a_dropped_connection_old_deliveries_cannot_be_settled_and_the_transport_reconnects()
    {
        var transport = Transport();
        await transport.SendAsync(Text("a"), None);
        var held = Assert.Single(await transport.ReceiveAsync(1, Wait, None));

        _peer.DropConnections();
        await Eventually.ReturnsAsync(() => Task.FromResult(_peer.InFlightCount), n => n == 0, Wait, "the peer to release the delivery");

        await Assert.ThrowsAsync<MessageLockLostException>(() => transport.CompleteAsync(held, None));
        var again = Assert.Single(await transport.ReceiveAsync(1, Wait, None));
        Assert.Equal("a", again.MessageId);
        Assert.True(again.DeliveryCount >= 2);
        await transport.CompleteAsync(again, None);
        Assert.Equal(2, _peer.ConnectionsOpened);
    }
}
