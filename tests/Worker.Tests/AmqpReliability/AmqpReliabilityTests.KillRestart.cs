using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.AmqpReliability;

public sealed partial class AmqpReliabilityTests
{
    private const int KillDocuments = 2_000;
    private const int RowsBeforeKill = 100;

    /// <summary>
    /// kill -9 of the worker while it works through 2 000 queued documents, then a restart: the broker takes back
    /// what the dead connection held, and every document ends with exactly one row, none lost, none duplicated,
    /// the queue empty.
    /// </summary>
    [Fact]
    public async Task Killing_the_worker_mid_run_and_restarting_it_loses_and_duplicates_nothing()
    {
        var queue = await broker.DeclareQueueAsync("kill");
        using var data = new TempDirectory();
        var messages = ShortDocuments(KillDocuments, seed: 17);
        await broker.SendAsync(queue, messages);

        int rowsAtKill;
        using (var first = StartWorker(data.Path, queue))
        {
            await WaitForRowsAsync(data.Path, first, rows => rows >= RowsBeforeKill, StartDeadline, $"{RowsBeforeKill} rows before the kill");
            await KillAsync(first);
            AssertLogIsClean(first);
            rowsAtKill = await CountRowsAsync(data.Path);
        }

        output.WriteLine($"killed with {rowsAtKill} of {KillDocuments} rows stored");
        Assert.True(rowsAtKill < KillDocuments, "the worker finished before it was killed; nothing was tested");

        using (var second = StartWorker(data.Path, queue))
        {
            await WaitForRowsAsync(data.Path, second, rows => rows >= KillDocuments, FinishDeadline, $"{KillDocuments} rows after the restart");
            await StopAsync(second);
            AssertLogIsClean(second);
        }

        var rows = await AssertExactlyOneRowPerDocumentAsync(data.Path, Enumerable.Range(0, KillDocuments).Select(i => $"doc-{i}"));
        Assert.All(rows, r => Assert.Equal("m-" + r.DocumentId["doc-".Length..], r.MessageId));
        await AssertQueueEmptyAsync(queue);
        Assert.Empty(await broker.PeekAsync(AmqpBroker.DeadLetterQueue(queue), TimeSpan.FromSeconds(1)));
    }
}
