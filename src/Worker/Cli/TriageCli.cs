using System.CommandLine;

namespace Triage.Worker.Cli;

/// <summary>Assembles the <c>triage</c> command line from one small class per command.</summary>
internal static class TriageCli
{
    public static RootCommand Build()
    {
        var globals = new CliGlobals();
        var root = new RootCommand("Triage: classifies documents from a queue with a BERT model and stores the results")
        {
            globals.DataDir,
            globals.Set,
        };

        root.Add(RunCommand.Create(globals));
        root.Add(EnqueueCommand.Create(globals));
        root.Add(ClassifyCommand.Create(globals));
        root.Add(EmbedCommand.Create(globals));
        root.Add(StatusCommand.Create(globals));
        root.Add(DeadLettersCommand.Create(globals));
        root.Add(MigrateCommand.Create(globals));
        root.Add(HealthCommand.Create(globals));
        root.Add(ReclassifyCommand.Create(globals));
        root.Add(PretrainCommand.Create());
        root.Add(TrainCommand.Create());
        root.Add(EvalCommand.Create());
        root.Add(BenchEncoderCommand.Create());
        root.Add(BenchCommand.Create());
        root.Add(BenchWorkerCommand.Create(globals));
        root.Add(BaselineCommand.Create());
        return root;
    }

    /// <summary>The invocation settings <c>Program</c> uses: SIGTERM is left to the host, which shuts down within
    /// its own timeout, instead of System.CommandLine's two-second kill.</summary>
    public static InvocationConfiguration Invocation(TextWriter? output = null, TextWriter? error = null) => new()
    {
        ProcessTerminationTimeout = null,
        Output = output ?? Console.Out,
        Error = error ?? Console.Error,
    };
}
