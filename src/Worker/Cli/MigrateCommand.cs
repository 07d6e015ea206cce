using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Triage.Storage;
using Triage.Worker.Hosting;

namespace Triage.Worker.Cli;

/// <summary><c>triage migrate</c>: apply pending database migrations.</summary>
internal static class MigrateCommand
{
    public static Command Create(CliGlobals globals)
    {
        var command = new Command("migrate", "Apply pending results-database migrations");
        command.SetAction((parseResult, cancellationToken) => CliRunner.RunAsync(parseResult, output =>
        {
            var builder = TriageHost.CreateBuilder(parseResult, globals, quiet: true).AddTriageStorage();
            return builder.Build().UseAsync(async services =>
            {
                var repository = services.GetRequiredService<IResultsRepository>();
                var result = await repository.MigrateAsync(cancellationToken).ConfigureAwait(false);
                await output.WriteLineAsync(result.Applied.Count == 0
                    ? $"{repository.Description}: schema is current (version {result.SchemaVersion})"
                    : $"{repository.Description}: applied {string.Join(", ", result.Applied)}; schema version {result.SchemaVersion}").ConfigureAwait(false);
                return CliRunner.Ok;
            });
        }));
        return command;
    }
}
