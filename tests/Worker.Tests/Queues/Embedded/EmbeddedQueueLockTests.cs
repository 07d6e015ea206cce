using Triage.Worker.Queues;

namespace Triage.Worker.Tests.Queues.Embedded;

/// <summary>Lock expiry and renewal, driven by a fake clock (no sleeping).</summary>
public sealed class EmbeddedQueueLockTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task A_locked_message_is_invisible_to_other_consumers_until_the_lock_expires()
    {
        await using var harness = new EmbeddedQueueHarness(o => o.LockDuration = TimeSpan.FromSeconds(30));
        var consumerA = harness.Open();
        var consumerB = harness.Open();
        await consumerA.SendAsync(EmbeddedQueueHarness.Text("a"), None);
        var held = Assert.Single(await consumerA.ReceiveAsync(1, TimeSpan.Zero, None));

        harness.Clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Empty(await consumerB.ReceiveAsync(1, TimeSpan.Zero, None));

        harness.Clock.Advance(TimeSpan.FromSeconds(1));
        var redelivered = Assert.Single(await consumerB.ReceiveAsync(1, TimeSpan.Zero, None));

        Assert.Equal("a", redelivered.MessageId);
        Assert.Equal(2, redelivered.DeliveryCount);
        // The first consumer's lock is gone: it must not be able to settle what B now holds.
        await Assert.ThrowsAsync<MessageLockLostException>(() => consumerA.CompleteAsync(held, None));
        await Assert.ThrowsAsync<MessageLockLostException>(() => consumerA.AbandonAsync(held, None));
        await Assert.ThrowsAsync<MessageLockLostException>(() => consumerA.DeadLetterAsync(held, "x", "y", None));
        await Assert.ThrowsAsync<MessageLockLostException>(() => consumerA.RenewLockAsync(held, None));
        await consumerB.CompleteAsync(redelivered, None);
    }

    [Fact]
    public async Task Settling_after_expiry_fails_even_if_nobody_claimed_the_message_again()
    {
        await using var harness = new EmbeddedQueueHarness(o => o.LockDuration = TimeSpan.FromSeconds(30));
        var queue = harness.Open();
        await queue.SendAsync(EmbeddedQueueHarness.Text("a"), None);
        var held = Assert.Single(await queue.ReceiveAsync(1, TimeSpan.Zero, None));

        harness.Clock.Advance(TimeSpan.FromSeconds(31));

        await Assert.ThrowsAsync<MessageLockLostException>(() => queue.CompleteAsync(held, None));
        Assert.Equal(1, (await harness.Admin().GetCountsAsync(None)).Queued);
    }

    [Fact]
    public async Task Renewing_extends_the_lock_from_now()
    {
        await using var harness = new EmbeddedQueueHarness(o => o.LockDuration = TimeSpan.FromSeconds(30));
        var consumerA = harness.Open();
        var consumerB = harness.Open();
        await consumerA.SendAsync(EmbeddedQueueHarness.Text("a"), None);
        var held = Assert.Single(await consumerA.ReceiveAsync(1, TimeSpan.Zero, None));

        harness.Clock.Advance(TimeSpan.FromSeconds(20));
        var lockedUntil = await consumerA.RenewLockAsync(held, None);
        harness.Clock.Advance(TimeSpan.FromSeconds(20));

        Assert.Equal(harness.Clock.GetUtcNow() + TimeSpan.FromSeconds(10), lockedUntil);
        Assert.Equal(lockedUntil, held.LockedUntil);
        Assert.Empty(await consumerB.ReceiveAsync(1, TimeSpan.Zero, None));
        await consumerA.CompleteAsync(held, None);
    }

    [Fact]
    public async Task Counts_separate_locked_from_queued_and_treat_expired_locks_as_queued()
    {
        await using var harness = new EmbeddedQueueHarness(o => o.LockDuration = TimeSpan.FromSeconds(30));
        var queue = harness.Open();
        var admin = harness.Admin();
        await queue.SendAsync(EmbeddedQueueHarness.Text("a"), None);
        await queue.SendAsync(EmbeddedQueueHarness.Text("b"), None);
        await queue.ReceiveAsync(1, TimeSpan.Zero, None);

        var whileLocked = await admin.GetCountsAsync(None);
        harness.Clock.Advance(TimeSpan.FromMinutes(1));
        var afterExpiry = await admin.GetCountsAsync(None);

        Assert.Equal((1, 1), (whileLocked.Queued, whileLocked.Locked));
        Assert.Equal((2, 0), (afterExpiry.Queued, afterExpiry.Locked));
    }
}
