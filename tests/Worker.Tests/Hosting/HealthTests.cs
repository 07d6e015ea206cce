using Triage.Worker.Cli;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Hosting;

public sealed class HealthTests
{
    [Fact]
    public void Health_check_reads_the_age_of_the_health_file()
    {
        using var dir = new TempDirectory();
        var path = dir.File("health");
        var now = DateTimeOffset.UtcNow;
        Assert.False(HealthCommand.Check(path, TimeSpan.FromSeconds(30), now).Healthy);

        File.WriteAllText(path, "x");
        File.SetLastWriteTimeUtc(path, now.UtcDateTime.AddSeconds(-5));
        Assert.True(HealthCommand.Check(path, TimeSpan.FromSeconds(30), now).Healthy);

        File.SetLastWriteTimeUtc(path, now.UtcDateTime.AddMinutes(-5));
        var stale = HealthCommand.Check(path, TimeSpan.FromSeconds(30), now);
        Assert.False(stale.Healthy);
        Assert.Contains("old", stale.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_running_worker_keeps_the_health_file_fresh_and_health_exits_0()
    {
        using var data = new TempDirectory();
        using var output = new StringWriter();
        var host = WorkerHost.Build(data.Path, WorkerHost.Settings(("Health:Interval", "00:00:00.050")), output, drain: false);
        await host.StartAsync();
        try
        {
            await Eventually.ReturnsAsync(() => Task.FromResult(File.Exists(data.File("health"))), e => e, TimeSpan.FromMinutes(1), "the health file");
            var health = await CliHarness.RunAsync("health", "--data-dir", data.Path);
            Assert.True(health.ExitCode == 0, health.ToString());
        }
        finally
        {
            await host.StopAsync();
            await ((IAsyncDisposable)host).DisposeAsync();
        }

        Assert.False(File.Exists(data.File("health"))); // removed at stop, so a probe fails at once
        Assert.Equal(1, (await CliHarness.RunAsync("health", "--data-dir", data.Path)).ExitCode);
    }
}
