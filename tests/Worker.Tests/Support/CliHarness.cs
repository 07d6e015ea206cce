using Triage.Worker.Cli;

namespace Triage.Worker.Tests.Support;

/// <summary>Runs the real command line in-process and captures what it prints.</summary>
internal static class CliHarness
{
    public static async Task<CliResult> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exitCode = await TriageCli.Build().Parse(args).InvokeAsync(TriageCli.Invocation(output, error));
        return new CliResult(exitCode, output.ToString(), error.ToString());
    }
}

internal sealed record CliResult(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Output}\n--- stderr\n{Error}";
}
