using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Triage.Worker.Pipeline;
using Triage.Worker.Queues;
using Triage.Worker.Queues.Embedded;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Reliability;

/// <summary>
/// A batch held by the model for several lock durations: the worker renews the locks of its messages, so a second
/// consumer on the same queue never gets them, and each completes once on its first delivery.
/// </summary>
[Collection(ReliabilityCollection.Name)]
public sealed class LockRenewalTests
{
    private const int Documents = 3;
    private static readonly TimeSpan LockDuration = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Locks_are_renewed_while_a_slow_batch_runs_so_no_other_consumer_gets_its_messages()
    {
        using var data = new TempDirectory();
        await WorkerHost.SendAsync(data.Path, TestDocuments.Generate(Documents, seed: 7, minWords: 5, maxWords: 20));

        using var release = new ManualResetEventSlim();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var loader = new ScriptedClassifierLoader(batch =>
        {
            if (batch.Index == 0)
            {
                entered.TrySetResult();
                // Holds the inference thread, as a slow model would, until the test has seen the locks outlive
                // their original expiry; bounded so a broken test cannot hang the run.
                if (!release.Wait(TimeSpan.FromMinutes(1)))
                {
                    throw new TimeoutException("the test never released the slow batch");
                }
            }
        });
        var settings = WorkerHost.Settings(
            ("Queue:Embedded:LockDuration", "00:00:02"),
            ("Worker:LockRenewalCheckInterval", "00:00:00.100"),
            ("Logging:LogLevel:Default", "Warning"));
        using var output = new StringWriter();
        var host = WorkerHost.Build(data.Path, settings, output, drain: true, services => services.AddSingleton<IBatchClassifierLoader>(loader));
        var run = host.RunAsync();

        List<ReceivedMessage> stolen = [];
        var locks = new List<DateTimeOffset>();
        try
        {
            await entered.Task.WaitAsync(TimeSpan.FromMinutes(1));
            var first = await QueueFile.ActiveRowsAsync(data.Path);
            Assert.Equal(Documents, first.Count);
            Assert.All(first, r => Assert.Equal(1, r.DeliveryCount));
            var originalExpiry = first.Max(r => r.LockedUntil!.Value);

            // A second consumer polls the same queue file while the batch is held.
            var competitor = new EmbeddedQueueTransport(Options.Create(new EmbeddedQueueOptions { Path = data.File("queue.db"), LockDuration = LockDuration }), TimeProvider.System);
            await using (competitor)
            {
                using var stop = new CancellationTokenSource();
                var polling = Task.Run(async () =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        stolen.AddRange(await competitor.ReceiveAsync(Documents, TimeSpan.FromMilliseconds(100), CancellationToken.None));
                    }
                });

                // Held for two lock durations past the original expiry, the locks still unexpired (renewed).
                await Eventually.ReturnsAsync(
                    async () =>
                    {
                        var rows = await QueueFile.ActiveRowsAsync(data.Path);
                        locks.AddRange(rows.Where(r => r.LockedUntil is not null).Select(r => r.LockedUntil!.Value));
                        return (Now: DateTimeOffset.UtcNow, Rows: rows);
                    },
                    s => s.Now > originalExpiry + (2 * LockDuration) && s.Rows.Count == Documents && s.Rows.All(r => r.LockedUntil > s.Now),
                    TimeSpan.FromSeconds(30),
                    "the batch to be held past its original lock while the locks stay renewed");
                await stop.CancelAsync();
                await polling;
            }
        }
        finally
        {
            release.Set();
        }

        await run.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Empty(stolen);
        Assert.True(locks.Distinct().Count() >= 3, $"expected the lock expiry to move at least twice, saw {string.Join(", ", locks.Distinct().Select(l => l.ToString("O")))}");
        var counts = await WorkerHost.CountsAsync(data.Path);
        Assert.Equal((0L, 0L, (long)Documents, 0L), (counts.Queued, counts.Locked, counts.Completed, counts.DeadLettered));
        await using var results = WorkerHost.OpenResults(data.Path);
        for (var i = 0; i < Documents; i++)
        {
            var row = await results.GetResultAsync($"doc-{i}", TestModel.Version, CancellationToken.None);
            Assert.NotNull(row);
            Assert.Equal(1, row.Attempt); // never redelivered
        }

        Assert.DoesNotContain("Lock lost", output.ToString(), StringComparison.Ordinal);
    }
}
