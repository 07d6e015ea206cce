using System.Text.RegularExpressions;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.AmqpReliability;

public sealed partial class AmqpReliabilityTests
{
    private const int RestartDocuments = 600;
    private const int RowsBeforeRestart = 50;

    /// <summary>
    /// The RabbitMQ node stops (SIGTERM: a graceful shutdown, as a service manager does it) and starts again while the worker processes a few hundred documents: the worker keeps
    /// running, its transport reconnects by itself (Polly backoff), messages it held on the dead connection come back
    /// from the durable quorum queue, and every document ends with exactly one row. Rows the worker commits while the
    /// node is shutting down cannot be completed (lock lost): those messages come back and their rows are upserted in
    /// place (attempt 2), which is the at-least-once path the table's key exists for.
    /// </summary>
    [Fact]
    public async Task A_broker_restart_mid_run_is_survived_and_every_document_gets_exactly_one_row()
    {
        var queue = await broker.DeclareQueueAsync("restart");
        using var data = new TempDirectory();
        await broker.SendAsync(queue, TestDocuments.Generate(RestartDocuments, seed: 29));

        using var worker = StartWorker(data.Path, queue);
        await WaitForRowsAsync(data.Path, worker, rows => rows >= RowsBeforeRestart, StartDeadline, $"{RowsBeforeRestart} rows before the broker restart");
        var brokerDown = false;
        try
        {
            await broker.TerminateAsync();
            brokerDown = true;
            var rowsAtStop = await CountRowsAsync(data.Path);
            output.WriteLine($"broker stopped with {rowsAtStop} of {RestartDocuments} rows stored");
            Assert.True(rowsAtStop < RestartDocuments, "the worker finished before the broker stopped; nothing was tested");

            // Down long enough for the worker to notice: it logs the lost connection and keeps retrying, still alive.
            await Eventually.ReturnsAsync(() => Task.FromResult(worker.Log), log => ConnectionLost().IsMatch(log), StartDeadline, "the worker to log the lost connection");
            Assert.False(worker.HasExited, worker.ToString());
        }
        finally
        {
            if (brokerDown)
            {
                await broker.StartAsync(); // also when the test failed: the other tests of the class share the node
            }
        }

        await WaitForRowsAsync(data.Path, worker, rows => rows >= RestartDocuments, FinishDeadline, $"{RestartDocuments} rows after the broker restart");
        await StopAsync(worker);
        AssertLogIsClean(worker);
        Assert.True(ConnectionOpened().Count(worker.Log) >= 2, $"expected the worker to connect again\n{worker}");

        await AssertExactlyOneRowPerDocumentAsync(data.Path, Enumerable.Range(0, RestartDocuments).Select(i => $"doc-{i}"));
        await AssertQueueEmptyAsync(queue);
        Assert.Empty(await broker.PeekAsync(AmqpBroker.DeadLetterQueue(queue), TimeSpan.FromSeconds(1)));
    }

    [GeneratedRegex(@"AMQP connection to \S+ lost")]
    private static partial Regex ConnectionLost();

    [GeneratedRegex(@"AMQP connection to \S+ \(\w+\) open")]
    private static partial Regex ConnectionOpened();
}
