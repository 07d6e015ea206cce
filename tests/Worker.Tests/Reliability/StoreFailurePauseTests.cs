using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Triage.Storage;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Reliability;

/// <summary>
/// After a batch could not be stored, receiving pauses for <c>Worker:StoreFailurePause</c>, so a database outage does
/// not burn through the delivery counts. The case that matters is the busy one: the receive loop is waiting for a
/// free in-flight slot when the store fails, and abandoning the batch is what frees the slots. On a fake clock, so
/// "not before the pause is over" is a fact about the clock, not a race.
/// </summary>
[Collection(ReliabilityCollection.Name)]
public sealed class StoreFailurePauseTests
{
    private const int Documents = 4;
    private static readonly TimeSpan Pause = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task Messages_abandoned_after_a_failed_store_are_not_received_again_before_the_pause_is_over()
    {
        using var data = new TempDirectory();
        await WorkerHost.SendAsync(data.Path, TestDocuments.Generate(Documents, seed: 5, minWords: 5, maxWords: 20));
        // Ahead of the real clock, so what was just sent is already visible on it.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow.AddMinutes(1));
        var repository = new FailFirstWrite(WorkerHost.OpenResults(data.Path), time);
        var settings = WorkerHost.Settings(
            ("Batching:MaxBatchDocuments", "4"),
            ("Batching:MaxWait", "00:00:00"),
            ("Worker:MaxInFlightMessages", "4"), // every slot taken: the receive loop waits for one when the store fails
            ("Worker:StoreRetries", "0"),
            ("Worker:StoreFailurePause", "00:01:00"),
            ("Queue:Embedded:LockDuration", "00:10:00"),
            ("Logging:LogLevel:Default", "None"));
        using var output = new StringWriter();
        var host = WorkerHost.Build(data.Path, settings, output, drain: true, services =>
        {
            services.AddSingleton<TimeProvider>(time);
            services.AddSingleton<IResultsRepository>(repository);
        });
        var run = host.RunAsync();

        // The failed batch abandoned and everything else stored, with the clock standing still.
        var failedAt = await Eventually.ReturnsAsync(() => Task.FromResult(repository.FailedAt), f => f is not null || run.IsCompleted, TimeSpan.FromMinutes(1), "the failed write");
        Assert.NotNull(failedAt);
        var settled = await Eventually.ReturnsAsync(
            async () => new Rows(await QueueFile.ActiveRowsAsync(data.Path), (await WorkerHost.CountsAsync(data.Path)).Completed),
            rows => rows.Completed >= Documents - repository.Failed.Count && rows.All.All(r => r.LockedUntil is null || r.DeliveryCount > 1),
            TimeSpan.FromMinutes(1),
            "the failed batch abandoned and the other documents completed");
        // Still waiting, on their first delivery, while the clock stands still inside the pause.
        Assert.Equal(repository.Failed.Order(StringComparer.Ordinal), settled.All.Where(r => r.DeliveryCount == 1).Select(r => r.MessageId).Order(StringComparer.Ordinal));

        await Eventually.ReturnsAsync(
            () =>
            {
                time.Advance(TimeSpan.FromSeconds(5));
                return Task.FromResult(run.IsCompleted);
            },
            done => done,
            TimeSpan.FromMinutes(1),
            "the drain once the clock has moved past the pause");
        await run;

        foreach (var id in repository.Failed)
        {
            Assert.True(repository.StoredAt.TryGetValue(id, out var storedAt), $"{id} was never stored");
            Assert.True(storedAt >= failedAt.Value + Pause, $"{id} failed at {failedAt:O} and was stored again at {storedAt:O}, inside the {Pause} pause");
        }

        var counts = await WorkerHost.CountsAsync(data.Path);
        Assert.Equal((0L, (long)Documents, 0L), (counts.Queued, counts.Completed, counts.DeadLettered));
    }

    private sealed record Rows(IReadOnlyList<QueueRow> All, long Completed)
    {
        public override string ToString() => $"{Completed} completed; active: {string.Join("; ", All)}";
    }

    /// <summary>Fails the first batch write (recording its documents and when, on the fake clock), then passes
    /// writes to the real SQLite repository, recording when each document was stored.</summary>
    private sealed class FailFirstWrite(IResultsRepository real, TimeProvider time) : DelegatingResultsRepository(real)
    {
        private int _writes;

        public DateTimeOffset? FailedAt { get; private set; }

        public List<string> Failed { get; } = [];

        public ConcurrentDictionary<string, DateTimeOffset> StoredAt { get; } = new(StringComparer.Ordinal);

        public override async Task WriteBatchAsync(IReadOnlyList<DocumentRecord> documents, IReadOnlyList<ClassificationResult> results, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _writes) == 1)
            {
                Failed.AddRange(results.Select(r => "m-" + r.DocumentId["doc-".Length..]));
                FailedAt = time.GetUtcNow();
                throw new InvalidOperationException("injected store failure");
            }

            await Inner.WriteBatchAsync(documents, results, cancellationToken);
            foreach (var result in results)
            {
                StoredAt["m-" + result.DocumentId["doc-".Length..]] = time.GetUtcNow();
            }
        }
    }
}
