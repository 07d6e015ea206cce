using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace Triage.Worker.Cli;

/// <summary>One training step (or a milestone such as an epoch's validation) as the display shows it.</summary>
/// <param name="Step">Steps done, counted over the whole run (a resumed run starts above 0).</param>
/// <param name="TotalSteps">Steps the run will take in all.</param>
/// <param name="Detail">loss, accuracy, learning rate, tokens/s: what the caller wants shown.</param>
/// <param name="Milestone">A line to keep in any mode (resume, epoch validation), not a routine step.</param>
internal readonly record struct StepStatus(int Step, int TotalSteps, string Detail, bool Milestone = false);

/// <summary>
/// Progress for <c>pretrain</c> and <c>train</c>: a live Spectre.Console bar on stderr when a person watches a
/// terminal, otherwise a plain line every <c>lineEvery</c> steps on stdout (systemd, CI logs and pipes stay readable).
/// </summary>
internal static class StepProgressDisplay
{
    /// <summary>Runs <paramref name="job"/> with a reporter; the bar, if any, is closed when the job returns or throws.</summary>
    public static T Run<T>(string title, int lineEvery, Func<Action<StepStatus>, T> job)
    {
        ArgumentNullException.ThrowIfNull(job);
        var console = Console.IsErrorRedirected || Console.IsOutputRedirected ? null : AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Detect,
            ColorSystem = ColorSystemSupport.Detect,
            Out = new AnsiConsoleOutput(Console.Error),
        });
        if (console is null || !console.Profile.Capabilities.Interactive)
        {
            var lines = new StepLines(Console.Out, lineEvery);
            return job(lines.Report);
        }

        var result = default(T)!;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context =>
            {
                var task = context.AddTask(Markup.Escape(title), autoStart: true, maxValue: 1);
                result = job(status =>
                {
                    task.MaxValue = Math.Max(1, status.TotalSteps);
                    task.Value = Math.Min(status.Step, task.MaxValue);
                    task.Description = Markup.Escape($"{title} {status.Step}/{status.TotalSteps} {status.Detail}");
                    if (status.Milestone)
                    {
                        // Written above the live bar, so validation results stay on screen after it moves on.
                        console.MarkupLine(Markup.Escape(status.Detail));
                    }
                });
                task.StopTask();
            });
        return result;
    }
}

/// <summary>Plain progress lines with an ETA taken from the steps done in this process (not since step 0 of a resumed run).</summary>
internal sealed class StepLines(TextWriter output, int lineEvery)
{
    private readonly StepRate _rate = new();

    public void Report(StepStatus status)
    {
        _rate.Observe(status.Step);
        if (status.Milestone)
        {
            output.WriteLine(status.Detail);
        }
        else if (status.Step % Math.Max(1, lineEvery) == 0 || status.Step == status.TotalSteps)
        {
            var eta = _rate.Remaining(status.Step, status.TotalSteps) is { } left ? left.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture) : "–";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"step {status.Step}/{status.TotalSteps} {status.Detail} ETA {eta}"));
        }
    }
}

/// <summary>Steps per second since the first step this process saw, for an ETA that is right after a resume.</summary>
internal sealed class StepRate
{
    private readonly Func<long> _timestamp;
    private int? _firstStep;
    private int _lastStep;
    private long _firstTimestamp;

    public StepRate(Func<long>? timestamp = null) => _timestamp = timestamp ?? Stopwatch.GetTimestamp;

    /// <summary>Notes a step; a step count that goes back (LTP's second stage starts again at 1) restarts the clock.</summary>
    public void Observe(int step)
    {
        if (_firstStep is null || step < _lastStep)
        {
            _firstStep = step;
            _firstTimestamp = _timestamp();
        }

        _lastStep = step;
    }

    /// <summary>Time left at the rate so far; null until two different steps have been seen.</summary>
    public TimeSpan? Remaining(int step, int totalSteps)
    {
        if (_firstStep is not { } first || step <= first)
        {
            return null;
        }

        var elapsed = Stopwatch.GetElapsedTime(_firstTimestamp, _timestamp());
        return TimeSpan.FromSeconds(elapsed.TotalSeconds / (step - first) * Math.Max(0, totalSteps - step));
    }
}

/// <summary>An <see cref="IProgress{T}"/> that reports on the calling thread (<see cref="Progress{T}"/> would post to
/// the thread pool, reordering lines and racing the end of the run).</summary>
internal sealed class ActionProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
