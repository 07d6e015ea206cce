namespace Triage.Worker.Tests.Queues.Embedded;

public sealed class EmbeddedQueueDuplicateDetectionTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task A_second_send_of_a_message_id_inside_the_window_is_accepted_and_dropped()
    {
        await using var harness = new EmbeddedQueueHarness();
        var queue = harness.Open();

        await queue.SendAsync(EmbeddedQueueHarness.Text("doc-1", "first"), None);
        harness.Clock.Advance(TimeSpan.FromMinutes(9));
        await queue.SendAsync(EmbeddedQueueHarness.Text("doc-1", "second"), None);

        var received = Assert.Single(await queue.ReceiveAsync(10, TimeSpan.Zero, None));
        Assert.Equal("first", System.Text.Encoding.UTF8.GetString(received.Body.Span));
    }

    [Fact]
    public async Task The_window_runs_from_the_first_send_and_a_duplicate_does_not_extend_it()
    {
        await using var harness = new EmbeddedQueueHarness(o => o.DuplicateDetectionWindow = TimeSpan.FromMinutes(10));
        var queue = harness.Open();

        await queue.SendAsync(EmbeddedQueueHarness.Text("doc-1"), None);
        harness.Clock.Advance(TimeSpan.FromMinutes(6));
        await queue.SendAsync(EmbeddedQueueHarness.Text("doc-1"), None); // dropped
        harness.Clock.Advance(TimeSpan.FromMinutes(5));                // 11 min after the first send
        await queue.SendAsync(EmbeddedQueueHarness.Text("doc-1"), None); // accepted again

        Assert.Equal(2, (await queue.ReceiveAsync(10, TimeSpan.Zero, None)).Count);
    }

    [Fact]
    public async Task Duplicates_are_detected_across_transport_instances_and_after_completion()
    {
        await using var harness = new EmbeddedQueueHarness();
        var producerA = harness.Open();
        var producerB = harness.Open();

        await producerA.SendAsync(EmbeddedQueueHarness.Text("doc-1"), None);
        var message = Assert.Single(await producerA.ReceiveAsync(1, TimeSpan.Zero, None));
        await producerA.CompleteAsync(message, None);
        await producerB.SendAsync(EmbeddedQueueHarness.Text("doc-1"), None);

        Assert.Empty(await producerB.ReceiveAsync(1, TimeSpan.Zero, None));
    }

    [Fact]
    public async Task A_zero_window_turns_detection_off()
    {
        await using var harness = new EmbeddedQueueHarness(o => o.DuplicateDetectionWindow = TimeSpan.Zero);
        var queue = harness.Open();

        await queue.SendAsync(EmbeddedQueueHarness.Text("doc-1"), None);
        await queue.SendAsync(EmbeddedQueueHarness.Text("doc-1"), None);

        Assert.Equal(2, (await queue.ReceiveAsync(10, TimeSpan.Zero, None)).Count);
    }
}
