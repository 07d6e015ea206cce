using System.Diagnostics;
using System.Text;
using Triage.Worker.Queues;

namespace Triage.Worker.Tests.Queues.Embedded;

public sealed class EmbeddedQueueBasicTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Send_then_receive_round_trips_id_body_content_type_properties_and_times()
    {
        await using var harness = new EmbeddedQueueHarness();
        var queue = harness.Open();
        var sentAt = harness.Clock.GetUtcNow();
        await queue.SendAsync(
            new OutgoingMessage("doc-1", Encoding.UTF8.GetBytes("{\"id\":\"doc-1\"}"))
            {
                ContentType = "application/json",
                ApplicationProperties = new Dictionary<string, object>
                {
                    ["tenant"] = "acme", ["priority"] = 3, ["score"] = 0.5, ["urgent"] = true,
                    ["trace"] = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"), ["at"] = sentAt,
                },
            },
            None);

        var received = Assert.Single(await queue.ReceiveAsync(10, TimeSpan.Zero, None));

        Assert.Equal("doc-1", received.MessageId);
        Assert.Equal("{\"id\":\"doc-1\"}", Encoding.UTF8.GetString(received.Body.Span));
        Assert.Equal("application/json", received.ContentType);
        Assert.Equal(1, received.DeliveryCount);
        Assert.Equal(sentAt, received.EnqueuedTime);
        Assert.Equal(sentAt + harness.Options.LockDuration, received.LockedUntil);
        Assert.Equal("acme", received.ApplicationProperties["tenant"]);
        Assert.Equal(3L, received.ApplicationProperties["priority"]);
        Assert.Equal(0.5, received.ApplicationProperties["score"]);
        Assert.Equal(true, received.ApplicationProperties["urgent"]);
        Assert.Equal(Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"), received.ApplicationProperties["trace"]);
        Assert.Equal(sentAt, received.ApplicationProperties["at"]);
    }

    [Fact]
    public async Task Receive_hands_out_in_send_order_and_at_most_max_messages()
    {
        await using var harness = new EmbeddedQueueHarness();
        var queue = harness.Open();
        for (var i = 0; i < 5; i++)
        {
            await queue.SendAsync(EmbeddedQueueHarness.Text($"m{i}"), None);
        }

        var first = await queue.ReceiveAsync(3, TimeSpan.Zero, None);
        var second = await queue.ReceiveAsync(3, TimeSpan.Zero, None);
        var third = await queue.ReceiveAsync(3, TimeSpan.Zero, None);

        Assert.Equal(["m0", "m1", "m2"], first.Select(m => m.MessageId));
        Assert.Equal(["m3", "m4"], second.Select(m => m.MessageId));
        Assert.Empty(third);
    }

    [Fact]
    public async Task Complete_removes_the_message_and_counts_it()
    {
        await using var harness = new EmbeddedQueueHarness();
        var queue = harness.Open();
        await queue.SendAsync(EmbeddedQueueHarness.Text("a"), None);
        var message = Assert.Single(await queue.ReceiveAsync(1, TimeSpan.Zero, None));

        await queue.CompleteAsync(message, None);
        harness.Clock.Advance(TimeSpan.FromHours(1));

        Assert.Empty(await queue.ReceiveAsync(1, TimeSpan.Zero, None));
        var counts = await harness.Admin().GetCountsAsync(None);
        Assert.Equal((0, 0, 1, 0), (counts.Queued, counts.Locked, counts.Completed, counts.DeadLettered));
        await Assert.ThrowsAsync<MessageLockLostException>(() => queue.CompleteAsync(message, None));
    }

    [Fact]
    public async Task Abandon_makes_the_message_visible_again_with_one_more_delivery()
    {
        await using var harness = new EmbeddedQueueHarness();
        var queue = harness.Open();
        await queue.SendAsync(EmbeddedQueueHarness.Text("a"), None);
        var first = Assert.Single(await queue.ReceiveAsync(1, TimeSpan.Zero, None));

        await queue.AbandonAsync(first, None);
        var second = Assert.Single(await queue.ReceiveAsync(1, TimeSpan.Zero, None));

        Assert.Equal("a", second.MessageId);
        Assert.Equal(2, second.DeliveryCount);
        await Assert.ThrowsAsync<MessageLockLostException>(() => queue.CompleteAsync(first, None));
        await queue.CompleteAsync(second, None);
    }

    [Fact]
    public async Task Receive_waits_for_a_message_sent_while_it_waits()
    {
        // Real clock: this is about waking up, not about lock arithmetic.
        await using var harness = new EmbeddedQueueHarness(time: TimeProvider.System);
        var queue = harness.Open();
        var clock = Stopwatch.StartNew();

        var receive = queue.ReceiveAsync(1, TimeSpan.FromSeconds(20), None);
        await queue.SendAsync(EmbeddedQueueHarness.Text("late"), None);
        var received = await receive;

        Assert.Equal("late", Assert.Single(received).MessageId);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task Receive_on_an_empty_queue_returns_empty_after_max_wait()
    {
        await using var harness = new EmbeddedQueueHarness(o => o.PollInterval = TimeSpan.FromMilliseconds(20), TimeProvider.System);
        var queue = harness.Open();
        var clock = Stopwatch.StartNew();

        var received = await queue.ReceiveAsync(5, TimeSpan.FromMilliseconds(200), None);

        Assert.Empty(received);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(150), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Receive_honours_cancellation_while_waiting()
    {
        await using var harness = new EmbeddedQueueHarness(time: TimeProvider.System);
        var queue = harness.Open();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queue.ReceiveAsync(1, TimeSpan.FromMinutes(1), cancel.Token));
    }

    [Fact]
    public async Task A_lock_token_from_another_transport_is_rejected()
    {
        await using var harness = new EmbeddedQueueHarness();
        var queue = harness.Open();
        var foreign = new ReceivedMessage("x", Array.Empty<byte>(), lockToken: new object());

        await Assert.ThrowsAsync<ArgumentException>(() => queue.CompleteAsync(foreign, None));
    }
}
