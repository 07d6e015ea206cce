using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Triage.Worker.Hosting;
using Triage.Worker.Pipeline;

namespace Triage.Worker.Cli;

/// <summary><c>triage health [--max-age TIME]</c>: exit 0 when the worker's health file is fresh (Docker HEALTHCHECK,
/// Kubernetes exec probe), 1 otherwise.</summary>
internal static class HealthCommand
{
    public static Command Create(CliGlobals globals)
    {
        var maxAge = new Option<TimeSpan?>("--max-age") { Description = "Oldest acceptable health file (default Health:MaxAge, 30 s)" };
        var command = new Command("health", "Check that a running worker is healthy (exit code 0) or not (1)") { maxAge };
        command.SetAction((parseResult, _) => CliRunner.RunAsync(parseResult, async output =>
        {
            using var host = TriageHost.CreateBuilder(parseResult, globals, quiet: true).AddTriageOptions().Build();
            var options = host.Services.GetRequiredService<IOptions<HealthOptions>>().Value;
            var time = host.Services.GetRequiredService<TimeProvider>();
            var (healthy, message) = Check(options.FilePath, parseResult.GetValue(maxAge) ?? options.MaxAge, time.GetUtcNow());
            await output.WriteLineAsync(message).ConfigureAwait(false);
            return healthy ? CliRunner.Ok : CliRunner.Failed;
        }));
        return command;
    }

    internal static (bool Healthy, string Message) Check(string path, TimeSpan maxAge, DateTimeOffset now)
    {
        if (!File.Exists(path))
        {
            return (false, $"unhealthy: {path} does not exist (worker not running or not started yet)");
        }

        var age = now - new DateTimeOffset(File.GetLastWriteTimeUtc(path), TimeSpan.Zero);
        var seconds = age.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);
        return age <= maxAge
            ? (true, $"healthy: {path} updated {seconds} s ago")
            : (false, $"unhealthy: {path} is {seconds} s old (limit {maxAge.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s)");
    }
}
