using System.Diagnostics;
using System.Text;
using Triage.Worker.Queues;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Pipeline;

/// <summary>kill -9 of a worker process mid-run, then a restart: every document ends with exactly one row.</summary>
public sealed class KillRestartTests
{
    private const int Documents = 2_000;

    [Fact]
    public async Task Killing_the_worker_process_mid_run_loses_and_duplicates_nothing()
    {
        using var data = new TempDirectory();
        var words = "shares rose as the striker scored while ministers debated new phones and film awards".Split(' ');
        var random = new Random(11);
        var messages = Enumerable.Range(0, Documents).Select(i =>
        {
            var text = string.Join(' ', Enumerable.Range(0, random.Next(20, 300)).Select(_ => words[random.Next(words.Length)]));
            return new OutgoingMessage($"m-{i}", Encoding.UTF8.GetBytes($"{{\"id\":\"doc-{i}\",\"text\":\"{text}\"}}")) { ContentType = "application/json" };
        }).ToArray();
        await WorkerHost.SendAsync(data.Path, messages);

        string[] settings = ["--set", "Model:Path=" + TestModel.SharedPath, "--set", "Queue:Embedded:LockDuration=00:00:03", "--set", "Batching:MaxBatchDocuments=8", "--set", "Logging:LogLevel:Default=Warning"];
        using (var worker = StartWorker(data.Path, ["run", .. settings]))
        {
            try
            {
                await Eventually.ReturnsAsync(() => WorkerHost.CountsAsync(data.Path), c => c.Completed >= 20, TimeSpan.FromMinutes(2), "the child worker to complete some messages");
            }
            finally
            {
                worker.Kill(); // SIGKILL: no shutdown, locks left held
                await worker.WaitForExitAsync();
            }
        }

        var afterKill = await WorkerHost.CountsAsync(data.Path);
        Assert.True(afterKill.Completed < Documents, "the worker finished before it was killed; nothing was tested");

        var restart = await CliHarness.RunAsync(["run", "--drain", "--data-dir", data.Path, .. settings]);
        Assert.True(restart.ExitCode == 0, restart.ToString());

        var counts = await WorkerHost.CountsAsync(data.Path);
        Assert.Equal((0L, 0L, (long)Documents, 0L), (counts.Queued, counts.Locked, counts.Completed, counts.DeadLettered));
        await using var results = WorkerHost.OpenResults(data.Path);
        Assert.Equal(Documents, (await results.CountResultsByModelVersionAsync(CancellationToken.None))[TestModel.Version]);
        Assert.Equal(Documents, await results.CountDocumentsAsync(CancellationToken.None));
    }

    private static Process StartWorker(string dataDir, string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "triage.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.ArgumentList.Add("--data-dir");
        start.ArgumentList.Add(dataDir);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }
}
