using System.CommandLine;

namespace Triage.Worker.Cli;

/// <summary>Options every command accepts (recursive on the root command).</summary>
internal sealed class CliGlobals
{
    public const string DefaultDataDir = "./data";

    /// <summary><c>--data-dir DIR</c>: holds the embedded queue (<c>queue.db</c>), the SQLite results database
    /// (<c>triage.db</c>) and the health file, unless configuration points them elsewhere.</summary>
    public Option<string> DataDir { get; } = new("--data-dir")
    {
        Description = "Directory for the embedded queue, the SQLite results database and the health file",
        DefaultValueFactory = _ => DefaultDataDir,
        HelpName = "DIR",
        Recursive = true,
    };

    /// <summary><c>--set KEY=VALUE</c> (repeatable): a configuration override with the highest precedence.</summary>
    public Option<string[]> Set { get; } = new("--set")
    {
        Description = "Override a configuration key, e.g. --set Batching:MaxBatchTokens=8192 (repeatable)",
        HelpName = "KEY=VALUE",
        Recursive = true,
        Arity = ArgumentArity.ZeroOrMore,
    };
}
