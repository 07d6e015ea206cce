using System.Diagnostics;
using System.Text;
using Amqp;
using Microsoft.Extensions.Options;
using Triage.Worker.Queues;
using Triage.Worker.Queues.Amqp;

namespace Triage.Worker.Tests.Queues.Amqp;

/// <summary>The AMQP transport against a real broker (RabbitMQ 3.10, AMQP 1.0 plugin, quorum queues).</summary>
[Collection(RabbitMqCollection.Name)]
public sealed class RabbitMqTransportTests(RabbitMqFixture rabbit) : IAsyncLifetime
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15); // generous for loaded CI machines; waits end as soon as the message arrives
    private readonly List<AmqpQueueTransport> _transports = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var transport in _transports)
        {
            await transport.DisposeAsync();
        }
    }

    private AmqpQueueTransport Transport(string queue, string? connectionString = null, Action<AmqpQueueOptions>? configure = null)
    {
        var options = new AmqpQueueOptions
        {
            ConnectionString = connectionString ?? rabbit.ConnectionString,
            EntityPath = RabbitMqFixture.Address(queue),
            DeadLetterAddress = RabbitMqFixture.Address(queue + ".dlq"),
            ReconnectDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromSeconds(1),
            ReconnectMaxAttempts = 5,
        };
        configure?.Invoke(options);
        var transport = new AmqpQueueTransport(Options.Create(options), TimeProvider.System);
        _transports.Add(transport);
        return transport;
    }

    private static OutgoingMessage Text(string id, string body = "hello") => new(id, Encoding.UTF8.GetBytes(body)) { ContentType = "text/plain" };

    /// <summary>Receives until <paramref name="count"/> messages have arrived or the wait is over.</summary>
    private static async Task<List<ReceivedMessage>> ReceiveAllAsync(IQueueTransport transport, int count, TimeSpan wait)
    {
        var clock = Stopwatch.StartNew();
        var received = new List<ReceivedMessage>();
        while (received.Count < count && wait - clock.Elapsed is { Ticks: > 0 } remaining)
        {
            received.AddRange(await transport.ReceiveAsync(count - received.Count, remaining, None));
        }

        return received;
    }

    [Fact]
    public async Task Send_receive_complete_round_trips_the_message()
    {
        var transport = Transport("basic");
        await transport.SendAsync(
            new OutgoingMessage("doc-1", Encoding.UTF8.GetBytes("""{"id":"doc-1","text":"hi"}"""))
            {
                ContentType = "application/json",
                ApplicationProperties = new Dictionary<string, object> { ["tenant"] = "acme", ["pages"] = 4, ["draft"] = false },
            },
            None);

        var message = Assert.Single(await transport.ReceiveAsync(10, Wait, None));
        var renewed = await transport.RenewLockAsync(message, None);
        await transport.CompleteAsync(message, None);

        Assert.Equal(("doc-1", "application/json", 1), (message.MessageId, message.ContentType, message.DeliveryCount));
        Assert.Equal("""{"id":"doc-1","text":"hi"}""", Encoding.UTF8.GetString(message.Body.Span));
        Assert.Equal("acme", message.ApplicationProperties["tenant"]);
        Assert.Equal(4L, message.ApplicationProperties["pages"]);
        Assert.Equal(false, message.ApplicationProperties["draft"]);
        Assert.InRange(message.EnqueuedTime, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddSeconds(1));
        // RabbitMQ holds a delivery as long as the link lives: there is no lock to renew.
        Assert.Equal((DateTimeOffset.MaxValue, DateTimeOffset.MaxValue), (message.LockedUntil, renewed));
        Assert.Empty(await transport.ReceiveAsync(1, TimeSpan.FromMilliseconds(300), None));
    }

    [Fact]
    public async Task Abandon_releases_the_message_and_it_is_redelivered_on_the_same_link()
    {
        var transport = Transport("abandon");
        await transport.SendAsync(Text("a"), None);
        var first = Assert.Single(await transport.ReceiveAsync(1, Wait, None));

        await transport.AbandonAsync(first, None);
        var second = Assert.Single(await ReceiveAllAsync(transport, 1, Wait));

        Assert.Equal("a", second.MessageId);
        Assert.True(second.DeliveryCount >= 2, $"delivery count {second.DeliveryCount}");
        // Released, not Modified: the link survived, so the redelivery can be settled.
        Assert.Same(((AmqpLockToken)first.LockToken).Receiver, ((AmqpLockToken)second.LockToken).Receiver);
        await transport.CompleteAsync(second, None);
    }

    [Fact]
    public async Task Dead_letter_rejects_and_the_message_appears_on_the_dlq()
    {
        var transport = Transport("deadletter");
        await transport.SendAsync(Text("poison", "not a document"), None);
        var message = Assert.Single(await transport.ReceiveAsync(1, Wait, None));

        await transport.DeadLetterAsync(message, "MalformedJson", "not JSON", None);

        await using var deadLetters = transport.OpenDeadLetterQueue();
        var dead = Assert.Single(await ReceiveAllAsync(deadLetters, 1, Wait));
        Assert.Equal(("poison", "not a document"), (dead.MessageId, Encoding.UTF8.GetString(dead.Body.Span)));
        await deadLetters.CompleteAsync(dead, None);
        Assert.Empty(await transport.ReceiveAsync(1, TimeSpan.FromMilliseconds(300), None));
    }

    [Fact]
    public async Task A_message_abandoned_past_the_quorum_delivery_limit_moves_to_the_dlq()
    {
        var transport = Transport("maxdelivery");
        await transport.SendAsync(Text("crashy"), None);

        var deliveryCounts = new List<int>();
        while (await ReceiveAllAsync(transport, 1, TimeSpan.FromSeconds(2)) is [var message])
        {
            deliveryCounts.Add(message.DeliveryCount);
            await transport.AbandonAsync(message, None);
        }

        // x-delivery-limit = 3 allows four deliveries. RabbitMQ 3.10 reports no delivery count over AMQP 1.0, only
        // first-acquirer: the transport can tell a first delivery (1) from a repeated one (2 or more), no more.
        Assert.Equal(RabbitMqFixture.DeliveryLimit + 1, deliveryCounts.Count);
        Assert.Equal(1, deliveryCounts[0]);
        Assert.All(deliveryCounts.Skip(1), count => Assert.True(count >= 2, $"delivery counts {string.Join(", ", deliveryCounts)}"));
        await using var deadLetters = transport.OpenDeadLetterQueue();
        Assert.Equal("crashy", Assert.Single(await ReceiveAllAsync(deadLetters, 1, Wait)).MessageId);
    }

    [Fact]
    public async Task Wrong_credentials_are_refused_at_once_without_retrying()
    {
        var transport = Transport("basic", $"amqp://{RabbitMqFixture.User}:wrong@127.0.0.1:{rabbit.AmqpPort}", o => o.ReconnectMaxAttempts = 50);
        var clock = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<AmqpException>(() => transport.SendAsync(Text("x"), None));

        Assert.Equal(ErrorCode.UnauthorizedAccess, (string)error.Error.Condition);
        // RabbitMQ answers a failed login after about 3 s; 50 retries with backoff would take far longer.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}: it retried");
    }

    [Fact]
    public async Task Credit_never_exceeds_the_batch_so_other_consumers_get_the_rest()
    {
        var producer = Transport("prefetch");
        for (var i = 0; i < 10; i++)
        {
            await producer.SendAsync(Text($"m{i}"), None);
        }

        var consumerA = Transport("prefetch");
        var consumerB = Transport("prefetch");
        var batchA = await ReceiveAllAsync(consumerA, 3, Wait);
        var batchB = await ReceiveAllAsync(consumerB, 7, Wait);

        Assert.Equal(3, batchA.Count);
        Assert.Equal(7, batchB.Count);
        Assert.Empty(batchA.Select(m => m.MessageId).Intersect(batchB.Select(m => m.MessageId)));
        foreach (var (consumer, batch) in new[] { (consumerA, batchA), (consumerB, batchB) })
        {
            foreach (var message in batch)
            {
                await consumer.CompleteAsync(message, None);
            }
        }
    }

    [Fact]
    public async Task The_transport_recovers_by_itself_when_the_broker_restarts()
    {
        var transport = Transport("reconnect", configure: o => o.ReconnectMaxAttempts = 100);
        await transport.SendAsync(Text("before-1"), None);
        await transport.SendAsync(Text("before-2"), None);
        var held = Assert.Single(await transport.ReceiveAsync(1, Wait, None));

        await rabbit.StopAsync();
        // While the broker is down the message cannot be settled: it stays on the queue for redelivery.
        await Assert.ThrowsAsync<MessageLockLostException>(() => transport.CompleteAsync(held, None));

        // Start receiving while the broker is down: the transport retries with backoff until it is back.
        var receiving = ReceiveAllAsync(transport, 2, TimeSpan.FromSeconds(60));
        await rabbit.StartAsync();
        var redelivered = await receiving;
        await transport.SendAsync(Text("after"), None);
        var after = await ReceiveAllAsync(transport, 1, Wait);

        Assert.Equal(["before-1", "before-2"], redelivered.Select(m => m.MessageId).Order());
        Assert.Equal("after", Assert.Single(after).MessageId);
        foreach (var message in redelivered.Concat(after))
        {
            await transport.CompleteAsync(message, None);
        }
    }
}
