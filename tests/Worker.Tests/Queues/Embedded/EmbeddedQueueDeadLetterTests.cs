using System.Text;
using Triage.Worker.Queues;

namespace Triage.Worker.Tests.Queues.Embedded;

public sealed class EmbeddedQueueDeadLetterTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Dead_letter_keeps_reason_description_and_body_and_leaves_the_queue()
    {
        await using var harness = new EmbeddedQueueHarness();
        var queue = harness.Open();
        var admin = harness.Admin();
        await queue.SendAsync(EmbeddedQueueHarness.Text("bad", "not a document"), None);
        var message = Assert.Single(await queue.ReceiveAsync(1, TimeSpan.Zero, None));

        await queue.DeadLetterAsync(message, "MalformedJson", "'n' is an invalid start of a value.", None);

        Assert.Empty(await queue.ReceiveAsync(1, TimeSpan.Zero, None));
        var dead = Assert.Single(await admin.ListDeadLettersAsync(10, None));
        Assert.Equal(("bad", "MalformedJson", "'n' is an invalid start of a value.", 1), (dead.MessageId, dead.Reason, dead.Description, dead.DeliveryCount));
        Assert.Equal("not a document", Encoding.UTF8.GetString(dead.Body.Span));
        Assert.Equal("text/plain", dead.ContentType);
        var counts = await admin.GetCountsAsync(None);
        Assert.Equal(1, counts.DeadLettered);
        Assert.Equal(1, counts.DeadLetteredByReason["MalformedJson"]);
    }

    [Fact]
    public async Task Abandoning_at_the_max_delivery_count_dead_letters_with_MaxDeliveryCountExceeded()
    {
        await using var harness = new EmbeddedQueueHarness(o => o.MaxDeliveryCount = 3);
        var queue = harness.Open();
        await queue.SendAsync(EmbeddedQueueHarness.Text("poison"), None);

        var deliveries = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            var message = Assert.Single(await queue.ReceiveAsync(1, TimeSpan.Zero, None));
            deliveries.Add(message.DeliveryCount);
            await queue.AbandonAsync(message, None);
        }

        Assert.Equal([1, 2, 3], deliveries);
        Assert.Empty(await queue.ReceiveAsync(1, TimeSpan.Zero, None));
        var dead = Assert.Single(await harness.Admin().ListDeadLettersAsync(10, None));
        Assert.Equal(DeadLetterReasons.MaxDeliveryCountExceeded, dead.Reason);
        Assert.Equal(3, dead.DeliveryCount);
    }

    [Fact]
    public async Task Locks_expiring_at_the_max_delivery_count_dead_letter_too()
    {
        await using var harness = new EmbeddedQueueHarness(o =>
        {
            o.MaxDeliveryCount = 2;
            o.LockDuration = TimeSpan.FromSeconds(10);
        });
        var queue = harness.Open();
        await queue.SendAsync(EmbeddedQueueHarness.Text("crashy"), None);
        await queue.SendAsync(EmbeddedQueueHarness.Text("fine"), None);

        // A worker that crashes mid-message never settles it: only lock expiry brings it back.
        Assert.Equal(2, (await queue.ReceiveAsync(2, TimeSpan.Zero, None)).Count);
        harness.Clock.Advance(TimeSpan.FromSeconds(11));
        var second = await queue.ReceiveAsync(2, TimeSpan.Zero, None);
        await queue.CompleteAsync(second.Single(m => m.MessageId == "fine"), None);
        harness.Clock.Advance(TimeSpan.FromSeconds(11));

        Assert.Empty(await queue.ReceiveAsync(2, TimeSpan.Zero, None));
        var counts = await harness.Admin().GetCountsAsync(None);
        Assert.Equal(1, counts.DeadLetteredByReason[DeadLetterReasons.MaxDeliveryCountExceeded]);
        Assert.Equal((0, 0, 1), (counts.Queued, counts.Locked, counts.Completed));
    }

    [Fact]
    public async Task Requeue_moves_dead_letters_back_with_a_fresh_delivery_count()
    {
        await using var harness = new EmbeddedQueueHarness(o => o.MaxDeliveryCount = 1);
        var queue = harness.Open();
        var admin = harness.Admin();
        foreach (var id in new[] { "a", "b", "c" })
        {
            await queue.SendAsync(EmbeddedQueueHarness.Text(id), None);
        }

        foreach (var message in await queue.ReceiveAsync(3, TimeSpan.Zero, None))
        {
            await queue.DeadLetterAsync(message, "ClassifierFailed", "model not loaded", None);
        }

        Assert.Equal(1, await admin.RequeueDeadLettersAsync(["b"], None));
        var requeued = Assert.Single(await queue.ReceiveAsync(3, TimeSpan.Zero, None));
        Assert.Equal(("b", 1), (requeued.MessageId, requeued.DeliveryCount));
        await queue.CompleteAsync(requeued, None);

        Assert.Equal(2, await admin.RequeueDeadLettersAsync(null, None));
        Assert.Equal(["a", "c"], (await queue.ReceiveAsync(3, TimeSpan.Zero, None)).Select(m => m.MessageId));
        Assert.Empty(await admin.ListDeadLettersAsync(10, None));
    }

    [Fact]
    public async Task Dead_letter_counts_are_grouped_per_reason()
    {
        await using var harness = new EmbeddedQueueHarness();
        var queue = harness.Open();
        for (var i = 0; i < 3; i++)
        {
            await queue.SendAsync(EmbeddedQueueHarness.Text($"m{i}"), None);
        }

        var messages = await queue.ReceiveAsync(3, TimeSpan.Zero, None);
        await queue.DeadLetterAsync(messages[0], "EmptyBody", "", None);
        await queue.DeadLetterAsync(messages[1], "EmptyBody", "", None);
        await queue.DeadLetterAsync(messages[2], "MissingId", "", None);

        var counts = await harness.Admin().GetCountsAsync(None);
        Assert.Equal(3, counts.DeadLettered);
        Assert.Equal(new Dictionary<string, long> { ["EmptyBody"] = 2, ["MissingId"] = 1 }, counts.DeadLetteredByReason);
    }
}
