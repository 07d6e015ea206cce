using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Triage.Storage;
using Triage.Worker.Hosting;
using Triage.Worker.Queues;

namespace Triage.Worker.Cli;

/// <summary><c>triage status [--json]</c>: queue counts, dead letters per reason, result rows per model version.</summary>
internal static class StatusCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Create(CliGlobals globals)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("status", "Show queue and result counts") { json };
        command.SetAction((parseResult, cancellationToken) => CliRunner.RunAsync(parseResult, output =>
        {
            var builder = TriageHost.CreateBuilder(parseResult, globals, quiet: true).AddTriageQueue().AddTriageStorage();
            return builder.Build().UseAsync(async services =>
            {
                var counts = await services.GetRequiredService<IQueueAdmin>().GetCountsAsync(cancellationToken).ConfigureAwait(false);
                var repository = services.GetRequiredService<IResultsRepository>();
                var applied = await repository.GetAppliedMigrationsAsync(cancellationToken).ConfigureAwait(false);
                IReadOnlyDictionary<string, long> results = applied.Count == 0
                    ? new Dictionary<string, long>()
                    : await repository.CountResultsByModelVersionAsync(cancellationToken).ConfigureAwait(false);
                var status = new Status(counts.Queued, counts.Locked, counts.Completed, counts.DeadLettered, counts.DeadLetteredByReason, results, applied.Count == 0 ? 0 : applied.Max(a => a.Version));
                if (parseResult.GetValue(json))
                {
                    await output.WriteLineAsync(JsonSerializer.Serialize(status, Json)).ConfigureAwait(false);
                    return CliRunner.Ok;
                }

                await output.WriteLineAsync($"Queue: {status.Queued} queued, {status.InFlight} in flight, {status.Completed} completed, {status.DeadLettered} dead-lettered").ConfigureAwait(false);
                foreach (var (reason, count) in status.DeadLetteredByReason.OrderBy(r => r.Key, StringComparer.Ordinal))
                {
                    await output.WriteLineAsync($"  dead-lettered {reason}: {count}").ConfigureAwait(false);
                }

                await output.WriteLineAsync(status.SchemaVersion == 0 ? "Results: database not migrated yet (triage migrate)" : $"Results (schema {status.SchemaVersion}):").ConfigureAwait(false);
                foreach (var (version, count) in status.ResultsByModelVersion)
                {
                    await output.WriteLineAsync($"  {version}: {count}").ConfigureAwait(false);
                }

                return CliRunner.Ok;
            });
        }));
        return command;
    }

    private sealed record Status(
        long Queued, long InFlight, long Completed, long DeadLettered, IReadOnlyDictionary<string, long> DeadLetteredByReason,
        IReadOnlyDictionary<string, long> ResultsByModelVersion, int SchemaVersion);
}
