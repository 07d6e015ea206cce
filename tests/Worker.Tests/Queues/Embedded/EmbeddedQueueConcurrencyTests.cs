using System.Collections.Concurrent;

namespace Triage.Worker.Tests.Queues.Embedded;

/// <summary>Competing consumers and durability: real clock, separate transport instances (separate connection
/// pools) on one file, which is how separate worker processes share it.</summary>
public sealed class EmbeddedQueueConcurrencyTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Two_consumers_on_one_file_never_hold_the_same_message_at_once()
    {
        await using var harness = new EmbeddedQueueHarness(o => o.PollInterval = TimeSpan.FromMilliseconds(20), TimeProvider.System);
        const int Count = 200;
        var producer = harness.Open();
        for (var i = 0; i < Count; i++)
        {
            await producer.SendAsync(EmbeddedQueueHarness.Text($"m{i:000}"), None);
        }

        var held = new ConcurrentDictionary<string, int>();
        var completedBy = new ConcurrentDictionary<string, string>();
        var overlaps = 0;

        async Task ConsumeAsync(string name)
        {
            var queue = harness.Open();
            while (true)
            {
                var batch = await queue.ReceiveAsync(7, TimeSpan.FromMilliseconds(100), None);
                if (batch.Count == 0)
                {
                    return;
                }

                foreach (var message in batch)
                {
                    if (!held.TryAdd(message.MessageId, 1))
                    {
                        Interlocked.Increment(ref overlaps);
                    }
                }

                await Task.Yield();
                foreach (var message in batch)
                {
                    held.TryRemove(message.MessageId, out _);
                    await queue.CompleteAsync(message, None);
                    Assert.True(completedBy.TryAdd(message.MessageId, name), $"{message.MessageId} completed twice");
                }
            }
        }

        await Task.WhenAll(Task.Run(() => ConsumeAsync("A")), Task.Run(() => ConsumeAsync("B")));

        Assert.Equal(0, overlaps);
        Assert.Equal(Count, completedBy.Count);
        Assert.Equal(Count, (await harness.Admin().GetCountsAsync(None)).Completed);
    }

    [Fact]
    public async Task Messages_locks_and_dead_letters_survive_closing_and_reopening_the_file()
    {
        await using var harness = new EmbeddedQueueHarness(o => o.LockDuration = TimeSpan.FromSeconds(30));
        var first = harness.Open();
        await first.SendAsync(EmbeddedQueueHarness.Text("a"), None);
        await first.SendAsync(EmbeddedQueueHarness.Text("b"), None);
        await first.SendAsync(EmbeddedQueueHarness.Text("c"), None);
        var locked = Assert.Single(await first.ReceiveAsync(1, TimeSpan.Zero, None));
        var doomed = Assert.Single(await first.ReceiveAsync(1, TimeSpan.Zero, None));
        await first.DeadLetterAsync(doomed, "Test", "kept across reopen", None);
        await first.DisposeAsync();

        var reopened = harness.Open();
        var counts = await harness.Admin().GetCountsAsync(None);
        Assert.Equal((1, 1, 1), (counts.Queued, counts.Locked, counts.DeadLettered));

        // The lock held by the closed instance is still valid on the file and can be settled by a new instance.
        await reopened.CompleteAsync(locked, None);
        Assert.Equal("c", Assert.Single(await reopened.ReceiveAsync(5, TimeSpan.Zero, None)).MessageId);
        Assert.Equal("kept across reopen", Assert.Single(await harness.Admin().ListDeadLettersAsync(5, None)).Description);

        // De-duplication state is on disk too.
        await reopened.SendAsync(EmbeddedQueueHarness.Text("a"), None);
        harness.Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal("c", Assert.Single(await reopened.ReceiveAsync(5, TimeSpan.Zero, None)).MessageId);
    }
}
