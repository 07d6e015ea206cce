using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Spectre.Console;
using Triage.Storage;
using Triage.Worker.Batching;
using Triage.Worker.Hosting;
using Triage.Worker.Pipeline;
using Triage.Worker.Reclassify;

namespace Triage.Worker.Cli;

/// <summary>
/// <c>triage reclassify [--model DIR] [--from-db | --input DIR|FILE.jsonl] [--dry-run] [--limit N] [--compare-to V]
/// [--low-confidence P] [--json]</c>: runs a model version over documents already known and writes its rows beside
/// the old ones. Resumable; safe next to a live worker on the same database.
/// </summary>
internal static class ReclassifyCommand
{
    /// <summary>Exit code of a run stopped by SIGTERM / Ctrl+C: what it wrote stays, the next run continues.</summary>
    public const int Interrupted = 130;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Create(CliGlobals globals)
    {
        var model = new Option<string?>("--model") { Description = "Model directory to run (default: Model:Path); its triage.json modelVersion names the new rows", HelpName = "DIR" };
        var fromDb = new Option<bool>("--from-db") { Description = "Read the results database's documents table (the default)" };
        var input = new Option<string?>("--input") { Description = "A directory of text files (id = file name) or a JSON Lines export ({\"id\",\"text\"} per line)", HelpName = "DIR|FILE.jsonl" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Classify and report, write nothing" };
        var limit = new Option<long?>("--limit") { Description = "Classify at most N documents", HelpName = "N" };
        var compareTo = new Option<string?>("--compare-to") { Description = "Model version to compare labels with (default: each document's most recent other version)", HelpName = "VERSION" };
        var lowConfidence = new Option<double>("--low-confidence") { Description = "Count new confidences below this", DefaultValueFactory = _ => ReclassifySettings.DefaultLowConfidence, HelpName = "P" };
        var pageSize = new Option<int>("--page-size") { Description = "Documents read per page", DefaultValueFactory = _ => ReclassifySettings.DefaultPageSize, HelpName = "N" };
        var progressInterval = new Option<TimeSpan>("--progress-interval") { Description = "Time between progress log lines when stderr is not a terminal", DefaultValueFactory = _ => TimeSpan.FromSeconds(10), HelpName = "TIME" };
        var json = new Option<bool>("--json") { Description = "Print the final report as JSON" };
        var command = new Command("reclassify", "Run a (new) model version over known documents; resumable, writes only the new version's rows")
        {
            model, fromDb, input, dryRun, limit, compareTo, lowConfidence, pageSize, progressInterval, json,
        };
        command.SetAction((parseResult, cancellationToken) => CliRunner.RunAsync(parseResult, output =>
        {
            var builder = TriageHost.CreateBuilder(parseResult, globals, quiet: false).AddTriageStorage();
            return builder.Build().UseAsync(async services =>
            {
                // The command line leaves SIGTERM to the code it runs (see TriageCli.Invocation): stop between batches.
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
                using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
                void Stop(PosixSignalContext context)
                {
                    context.Cancel = true;
                    stop.Cancel();
                }

                Validate(parseResult.GetValue(fromDb), parseResult.GetValue(input), parseResult.GetValue(limit), parseResult.GetValue(lowConfidence), parseResult.GetValue(pageSize));
                var modelOptions = services.GetRequiredService<IOptions<ModelOptions>>().Value;
                var batching = services.GetRequiredService<IOptions<BatchingOptions>>().Value;
                var storage = services.GetRequiredService<IOptions<StorageOptions>>().Value;
                var time = services.GetRequiredService<TimeProvider>();
                var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Triage.Reclassify");
                var repository = services.GetRequiredService<IResultsRepository>();
                if (storage.MigrateOnStart)
                {
                    await repository.MigrateAsync(stop.Token).ConfigureAwait(false);
                }

                var path = ModelPaths.Resolve(parseResult.GetValue(model) ?? modelOptions.Path);
                using var classifier = TriageBatchClassifier.Load(path, modelOptions.Device, modelOptions.Threads);
                var settings = new ReclassifySettings
                {
                    DryRun = parseResult.GetValue(dryRun),
                    Limit = parseResult.GetValue(limit),
                    CompareTo = parseResult.GetValue(compareTo),
                    LowConfidence = parseResult.GetValue(lowConfidence),
                    PageSize = parseResult.GetValue(pageSize),
                };
                var inputPath = parseResult.GetValue(input);
                using var files = inputPath is null ? null : new FileSource(inputPath, repository, classifier.Info.Version);
                IReclassifySource source = files ?? (IReclassifySource)new DatabaseSource(repository, classifier.Info.Version);
                var job = new ReclassifyJob(classifier, repository, source, batching, settings, time, logger);

                var error = parseResult.InvocationConfiguration.Error;
                var report = IsTerminal(error)
                    ? await ReclassifyProgressDisplay.WithBarAsync(StderrConsole(), $"reclassify {classifier.Info.Version}", p => job.RunAsync(p, stop.Token)).ConfigureAwait(false)
                    : await job.RunAsync(ReclassifyProgressDisplay.Periodic(logger, parseResult.GetValue(progressInterval), time), stop.Token).ConfigureAwait(false);

                if (parseResult.GetValue(json))
                {
                    await output.WriteLineAsync(JsonSerializer.Serialize(report, Json)).ConfigureAwait(false);
                }
                else
                {
                    report.Write(ReportConsole(output));
                }

                return report.Interrupted ? Interrupted : CliRunner.Ok;
            });
        }));
        return command;
    }

    private static void Validate(bool fromDb, string? input, long? limit, double lowConfidence, int pageSize)
    {
        if (fromDb && input is not null)
        {
            throw new ArgumentException("--from-db and --input are alternatives: give one.");
        }

        if (limit is < 1)
        {
            throw new ArgumentException("--limit must be at least 1.");
        }

        if (lowConfidence is < 0 or > 1)
        {
            throw new ArgumentException("--low-confidence must be within [0, 1].");
        }

        if (pageSize is < 1 or > 10_000)
        {
            throw new ArgumentException("--page-size must be within [1, 10000].");
        }
    }

    /// <summary>The live bar only where a person watches: the command's stderr is the process's and is a terminal.</summary>
    private static bool IsTerminal(TextWriter error) => ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected;

    private static IAnsiConsole StderrConsole() => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Ansi = AnsiSupport.Detect,
        ColorSystem = ColorSystemSupport.Detect,
        Out = new AnsiConsoleOutput(Console.Error),
    });

    /// <summary>Tables for the report, plain text when stdout is a file or a pipe.</summary>
    private static IAnsiConsole ReportConsole(TextWriter output)
    {
        var terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        if (!terminal)
        {
            console.Profile.Width = 120;
        }

        return console;
    }
}
