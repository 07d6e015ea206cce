using System.Text;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.AmqpReliability;

public sealed partial class AmqpReliabilityTests
{
    private const int EndToEndDocuments = 40;

    /// <summary>
    /// <c>triage enqueue</c> → RabbitMQ → <c>triage run</c> → SQLite: one row per document, nothing left on the
    /// queue, and a malformed message rejected onto the DLQ with its body and MessageId (RabbitMQ 3.10 keeps none
    /// of the dead-letter reason; the worker logs it).
    /// </summary>
    [Fact]
    public async Task Enqueued_documents_get_one_row_each_the_queue_ends_empty_and_a_malformed_message_is_dead_lettered()
    {
        var queue = await broker.DeclareQueueAsync("e2e");
        using var data = new TempDirectory();
        var inputs = Path.Combine(data.Path, "inputs");
        Directory.CreateDirectory(inputs);
        var random = new Random(5);
        var words = "shares rose as the striker scored while ministers debated new phones and film awards".Split(' ');
        var ids = Enumerable.Range(0, EndToEndDocuments).Select(i => $"doc-{i:D2}").ToList();
        foreach (var id in ids)
        {
            await File.WriteAllTextAsync(Path.Combine(inputs, id + ".txt"), string.Join(' ', Enumerable.Range(0, random.Next(5, 40)).Select(_ => words[random.Next(words.Length)])));
        }

        var poison = Path.Combine(data.Path, "malformed.json");
        await File.WriteAllTextAsync(poison, "{\"id\": \"malformed\", \"text\": ");

        // The envelopes exactly as an operator makes them, over AMQP by the same settings the worker gets.
        var enqueue = await CliHarness.RunAsync(["enqueue", inputs, "--data-dir", data.Path, .. broker.SetArguments(queue)]);
        Assert.True(enqueue.ExitCode == 0, enqueue.ToString());
        Assert.Contains($"Enqueued {EndToEndDocuments} message(s)", enqueue.Output, StringComparison.Ordinal);
        var enqueueRaw = await CliHarness.RunAsync(["enqueue", poison, "--raw", "--data-dir", data.Path, .. broker.SetArguments(queue)]);
        Assert.True(enqueueRaw.ExitCode == 0, enqueueRaw.ToString());

        using (var worker = StartWorker(data.Path, queue))
        {
            await WaitForRowsAsync(data.Path, worker, rows => rows >= EndToEndDocuments, FinishDeadline, $"{EndToEndDocuments} rows");
            await Eventually.ReturnsAsync(() => Task.FromResult(worker.Log), log => log.Contains("Message malformed dead-lettered: MalformedJson:", StringComparison.Ordinal), StartDeadline, "the worker to log the dead-lettered message with its reason");
            await StopAsync(worker);
            AssertLogIsClean(worker);
            Assert.DoesNotContain("fail:", worker.Log, StringComparison.Ordinal);
        }

        var rows = await AssertExactlyOneRowPerDocumentAsync(data.Path, ids);
        Assert.All(rows, r => Assert.Equal((r.DocumentId, 1L), (r.MessageId, r.Attempt))); // enqueue's MessageId is the file name; first delivery
        await AssertQueueEmptyAsync(queue);

        var dead = await broker.ReceiveDeadLetterAsync(queue, TimeSpan.FromSeconds(30));
        Assert.NotNull(dead);
        output.WriteLine($"dead letter: properties {dead.Properties}; application properties {dead.ApplicationProperties}; annotations {dead.MessageAnnotations}; header {dead.Header}");
        Assert.Equal("malformed", dead.Properties.MessageId);
        Assert.Equal("{\"id\": \"malformed\", \"text\": ", Encoding.UTF8.GetString(Assert.IsType<byte[]>(dead.Body)));
        // What RabbitMQ 3.10 really keeps: the body, the MessageId and durability. It drops the Rejected outcome's
        // error (condition, DeadLetterReason, DeadLetterErrorDescription) and adds nothing an AMQP 1.0 client can see
        // (no x-death annotation or property): on RabbitMQ the reason lives only in the worker's log and its
        // triage.documents.dead_lettered counter, unlike Service Bus.
        Assert.True(dead.ApplicationProperties?.Map.ContainsKey("DeadLetterReason") is null or false, $"RabbitMQ now keeps the reason: {dead.ApplicationProperties}");
        Assert.True(dead.MessageAnnotations?.Map.Count is null or 0, $"RabbitMQ now annotates dead letters: {dead.MessageAnnotations}");
        Assert.Null(await broker.ReceiveDeadLetterAsync(queue, TimeSpan.FromSeconds(1)));
    }
}
