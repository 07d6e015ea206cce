using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Counters;

/// <summary>Logs for journald and container log collectors: <c>Logging:Console:FormatterName=json</c>.</summary>
public sealed class StructuredLogTests
{
    [Fact]
    public async Task With_the_json_formatter_every_stderr_line_is_a_json_object_and_the_start_up_lines_are_there()
    {
        using var data = new TempDirectory();
        var samples = Directory.GetFiles(Path.Combine(SharedAssets.RepositoryRoot, "samples"));
        await WorkerHost.SendAsync(data.Path, [.. samples.Take(3).Select(f => Triage.Worker.Cli.EnqueueCommand.Wrap(f, 256 * 1024))]);
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "triage.dll"), "--data-dir", data.Path, "run", "--drain" })
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["TRIAGE_Model__Path"] = TestModel.SharedPath;
        start.Environment["TRIAGE_Model__Threads"] = "1";
        start.Environment["TRIAGE_Logging__Console__FormatterName"] = "json";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(process.ExitCode == 0, await stderr);

        var lines = (await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        var events = lines.Select(l => JsonDocument.Parse(l).RootElement).Select(e => (Id: e.GetProperty("EventId").GetInt32(), e)).ToList();
        var model = events.Single(e => e.Id == 1000).e.GetProperty("State");
        Assert.Equal(TestModel.Version, model.GetProperty("ModelVersion").GetString());
        Assert.Equal("dense", model.GetProperty("Method").GetString());
        Assert.Equal("cpu", model.GetProperty("Device").GetString());
        Assert.StartsWith("sqlite ", events.Single(e => e.Id == 1001).e.GetProperty("State").GetProperty("Storage").GetString(), StringComparison.Ordinal);
        Assert.Contains(events, e => e.Id == 1002); // worker started: queue, batch budget, messages in flight
        Assert.Contains("documents", await stdout, StringComparison.Ordinal); // the drain summary stays on stdout
    }

    [Fact]
    public void The_worker_host_keeps_an_explicit_formatter_choice()
    {
        using var data = new TempDirectory();
        using var host = WorkerHost.Build(data.Path, WorkerHost.Settings(("Logging:Console:FormatterName", "json")), TextWriter.Null);
        Assert.Equal("json", host.Services.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>().CurrentValue.FormatterName);
    }
}
