using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;
using Xunit.Abstractions;

namespace Triage.Worker.Tests.Reliability;

/// <summary>
/// SIGTERM (systemctl stop, docker stop, a Kubernetes pod deletion) to a worker process mid-run: it stops taking
/// messages, finishes or abandons what it holds, exits 0 within the host shutdown timeout, and a restart finishes the
/// queue with exactly one row per document.
/// </summary>
[Collection(ReliabilityCollection.Name)]
public sealed class SigtermTests(ITestOutputHelper output)
{
    private const int Documents = 400;

    // Set through the environment, as a unit file or a pod spec would; the default is 30 s as well.
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Sigterm_stops_receiving_settles_what_is_held_and_exits_0_within_the_shutdown_timeout()
    {
        using var data = new TempDirectory();
        await WorkerHost.SendAsync(data.Path, TestDocuments.Generate(Documents, seed: 23));
        var environment = new Dictionary<string, string>
        {
            ["TRIAGE_Model__Path"] = TestModel.SharedPath,
            ["TRIAGE_Model__Threads"] = "1",
            ["TRIAGE_Worker__ShutdownTimeout"] = "00:00:30",
            ["TRIAGE_Batching__MaxBatchDocuments"] = "8",
            ["TRIAGE_Logging__LogLevel__Default"] = "Information",
            // The default 60 s lock: a message the worker left locked would still show as locked after it exits.
            ["TRIAGE_Queue__Embedded__LockDuration"] = "00:01:00",
        };

        using var worker = WorkerProcess.Start(data.Path, ["run"], environment);
        await Eventually.ReturnsAsync(() => WorkerHost.CountsAsync(data.Path), c => c.Completed >= 20 || worker.HasExited, TimeSpan.FromMinutes(2), "the worker to complete some messages");
        Assert.False(worker.HasExited, worker.ToString());

        await worker.TerminateAsync();
        Assert.True(await worker.WaitForExitAsync(ShutdownTimeout), $"the worker did not exit within the {ShutdownTimeout.TotalSeconds} s shutdown timeout\n{worker}");
        Assert.True(worker.ExitCode == 0, worker.ToString());
        Assert.Contains("Stopping: no new messages", worker.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("fail:", worker.Log, StringComparison.Ordinal);

        // Nothing left locked: what was in flight was completed (row first) or abandoned, none is waiting out a lock.
        var afterStop = await WorkerHost.CountsAsync(data.Path);
        var rows = await QueueFile.ActiveRowsAsync(data.Path);
        Assert.All(rows, r => Assert.Null(r.LockedUntil));
        Assert.Equal((0L, 0L, (long)Documents), (afterStop.Locked, afterStop.DeadLettered, afterStop.Queued + afterStop.Completed));
        Assert.True(afterStop.Queued > 0, "the worker finished the queue before SIGTERM; nothing was tested");
        output.WriteLine($"after SIGTERM: {afterStop.Completed} completed, {afterStop.Queued} queued ({rows.Count(r => r.DeliveryCount > 0)} of them abandoned at shutdown)");
        await using (var results = WorkerHost.OpenResults(data.Path))
        {
            Assert.Equal(afterStop.Completed, (await results.CountResultsByModelVersionAsync(CancellationToken.None))[TestModel.Version]);
        }

        var drain = await CliHarness.RunAsync("run", "--drain", "--data-dir", data.Path, "--set", "Model:Path=" + TestModel.SharedPath, "--set", "Logging:LogLevel:Default=Warning");
        Assert.True(drain.ExitCode == 0, drain.ToString());
        var counts = await WorkerHost.CountsAsync(data.Path);
        Assert.Equal((0L, 0L, (long)Documents, 0L), (counts.Queued, counts.Locked, counts.Completed, counts.DeadLettered));
        await using (var results = WorkerHost.OpenResults(data.Path))
        {
            Assert.Equal(Documents, (await results.CountResultsByModelVersionAsync(CancellationToken.None))[TestModel.Version]);
            Assert.Equal(Documents, await results.CountDocumentsAsync(CancellationToken.None));
        }
    }
}
