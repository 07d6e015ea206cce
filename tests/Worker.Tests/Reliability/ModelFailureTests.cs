using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Triage.Worker.Pipeline;
using Triage.Worker.Queues;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Reliability;

/// <summary>
/// The model throws on a batch: its messages are abandoned (never completed, since they have no row) and come back
/// with a higher delivery count; a document the model always fails on ends in the dead-letter queue with
/// <c>MaxDeliveryCountExceeded</c> while the others are processed.
/// </summary>
[Collection(ReliabilityCollection.Name)]
public sealed class ModelFailureTests
{
    private const int GoodDocuments = 40;
    private const int FailingBatches = 2;
    private const int MaxDeliveryCount = 5;
    private const string PoisonMarker = "poison";

    [Fact]
    public async Task Failed_batches_are_abandoned_and_redelivered_and_a_poison_document_is_dead_lettered()
    {
        using var data = new TempDirectory();
        // Good documents are short (the ≤ 64-token length bucket), the poison is long (the 512 bucket): they never
        // share a batch, so the poison fails only itself. The document id leads each text so batches can be traced.
        var random = new Random(3);
        var good = Enumerable.Range(0, GoodDocuments).Select(i => TestDocuments.Envelope(
            $"m-{i}", $"doc-{i}", $"doc-{i} " + string.Join(' ', Enumerable.Repeat("shares rose", random.Next(3, 12))))).ToList();
        var poison = TestDocuments.Envelope("poison", "poison", PoisonMarker + " " + string.Join(' ', Enumerable.Repeat("the striker scored", 120)));
        await WorkerHost.SendAsync(data.Path, [.. good, poison]);

        var batches = new ConcurrentQueue<(ScriptedBatch Batch, bool Failed)>();
        var loader = new ScriptedClassifierLoader(batch =>
        {
            var fail = batch.Index < FailingBatches || batch.Texts.Any(t => t.StartsWith(PoisonMarker, StringComparison.Ordinal));
            batches.Enqueue((batch, fail));
            if (fail)
            {
                throw new InjectedModelFailureException($"injected failure on batch {batch.Index}");
            }
        });
        using var output = new StringWriter();
        var host = WorkerHost.Build(
            data.Path,
            WorkerHost.Settings(("Batching:MaxBatchDocuments", "8"), ("Queue:Embedded:MaxDeliveryCount", MaxDeliveryCount.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("Logging:LogLevel:Default", "None")),
            output,
            drain: true,
            services => services.AddSingleton<IBatchClassifierLoader>(loader));
        await host.RunAsync().WaitAsync(TimeSpan.FromMinutes(2));

        // The poison: one delivery per attempt, each reached the model and failed, then MaxDeliveryCountExceeded.
        var letter = Assert.Single(await WorkerHost.DeadLettersAsync(data.Path));
        Assert.Equal(("poison", DeadLetterReasons.MaxDeliveryCountExceeded, MaxDeliveryCount), (letter.MessageId, letter.Reason, letter.DeliveryCount));
        Assert.Equal(MaxDeliveryCount, batches.Count(b => b.Batch.Texts.Any(t => t.StartsWith(PoisonMarker, StringComparison.Ordinal))));
        Assert.All(batches.Where(b => b.Batch.Texts.Any(t => t.StartsWith(PoisonMarker, StringComparison.Ordinal))), b => Assert.Single(b.Batch.Texts));

        // Every good document processed once, and the queue agrees: nothing completed without its row.
        var counts = await WorkerHost.CountsAsync(data.Path);
        Assert.Equal((0L, 0L, (long)GoodDocuments, 1L), (counts.Queued, counts.Locked, counts.Completed, counts.DeadLettered));
        await using var results = WorkerHost.OpenResults(data.Path);
        Assert.Equal(GoodDocuments, (await results.CountResultsByModelVersionAsync(CancellationToken.None))[TestModel.Version]);
        Assert.Null(await results.GetResultAsync("poison", TestModel.Version, CancellationToken.None));

        // The documents of the failed batches were abandoned, not completed: their rows come from a later delivery.
        var failedGood = batches.Where(b => b.Failed && b.Batch.Index < FailingBatches).SelectMany(b => b.Batch.Texts)
            .Where(t => !t.StartsWith(PoisonMarker, StringComparison.Ordinal)).Select(t => t.Split(' ')[0]).ToList();
        Assert.NotEmpty(failedGood);
        foreach (var id in failedGood)
        {
            var row = await results.GetResultAsync(id, TestModel.Version, CancellationToken.None);
            Assert.NotNull(row);
            Assert.True(row.Attempt >= 2, $"{id} was in a failed batch but its row says delivery {row.Attempt}");
        }

        var failedAttempts = batches.Where(b => b.Failed).Sum(b => b.Batch.Texts.Count);
        Assert.Contains($"failed attempts (abandoned for redelivery): {failedAttempts}", output.ToString(), StringComparison.Ordinal);
    }
}
