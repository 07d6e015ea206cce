using System.CommandLine;
using Microsoft.Extensions.Options;
using Triage.Classifier.Checkpoints;

namespace Triage.Worker.Cli;

/// <summary>Exit codes and error reporting shared by the commands.</summary>
internal static class CliRunner
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int BadConfiguration = 2;

    /// <summary>Runs a command body; configuration and model errors become one line on stderr and an exit code.</summary>
    public static async Task<int> RunAsync(ParseResult parseResult, Func<TextWriter, Task<int>> body)
    {
        var error = parseResult.InvocationConfiguration.Error;
        try
        {
            return await body(parseResult.InvocationConfiguration.Output).ConfigureAwait(false);
        }
        catch (OptionsValidationException exception)
        {
            await error.WriteLineAsync($"error: invalid configuration: {string.Join("; ", exception.Failures)}").ConfigureAwait(false);
            return BadConfiguration;
        }
        catch (CheckpointException exception)
        {
            await error.WriteLineAsync($"error: {exception.Message}").ConfigureAwait(false);
            return Failed;
        }
        catch (Exception exception) when (exception is InvalidOperationException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            await error.WriteLineAsync($"error: {exception.Message}").ConfigureAwait(false);
            return Failed;
        }
    }
}
