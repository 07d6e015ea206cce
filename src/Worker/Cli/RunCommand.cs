using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Triage.Worker.Hosting;

namespace Triage.Worker.Cli;

/// <summary><c>triage run [--drain]</c>: the queue worker.</summary>
internal static class RunCommand
{
    public static Command Create(CliGlobals globals)
    {
        var drain = new Option<bool>("--drain") { Description = "Exit once the queue is empty and everything in flight is settled, printing a summary" };
        var command = new Command("run", "Run the worker: queue → micro-batches → model → SQL") { drain };
        command.SetAction((parseResult, cancellationToken) => CliRunner.RunAsync(parseResult, async output =>
        {
            var builder = TriageHost.CreateBuilder(parseResult, globals, quiet: false);
            builder.AddTriageWorker(parseResult.GetValue(drain), output);
            return await RunHostAsync(builder.Build(), cancellationToken).ConfigureAwait(false);
        }));
        return command;
    }

    /// <summary>Runs the worker host to its end (RunAsync also disposes it); the exit code says whether the worker failed.</summary>
    internal static async Task<int> RunHostAsync(IHost host, CancellationToken cancellationToken)
    {
        var state = host.Services.GetRequiredService<WorkerRunState>();
        await host.RunAsync(cancellationToken).ConfigureAwait(false);
        return state.ExitCode;
    }
}
