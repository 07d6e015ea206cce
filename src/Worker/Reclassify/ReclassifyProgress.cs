using System.Globalization;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Triage.Worker.Reclassify;

/// <summary>Where a run stands after a batch; both the progress bar and the plain log lines are made from it.</summary>
/// <param name="Done">Documents dealt with: classified, skipped as already done, or skipped as unusable.</param>
/// <param name="Total">Documents the source offered at the start (capped by <c>--limit</c>).</param>
internal sealed record ReclassifyProgress(long Done, long Total, long Processed, long TokensInput, long TokensAttended, TimeSpan Elapsed)
{
    public double DocumentsPerSecond => Elapsed.TotalSeconds > 0 ? Processed / Elapsed.TotalSeconds : 0;

    /// <summary>Time left at the rate so far; null until there is a rate.</summary>
    public TimeSpan? Remaining => DocumentsPerSecond > 0 && Total >= Done ? TimeSpan.FromSeconds((Total - Done) / DocumentsPerSecond) : null;

    /// <summary>One line: <c>120/500 docs (24%), 35.2 docs/s, ETA 00:00:11, tokens attended 12 300 / input 15 000 (82%)</c>.</summary>
    public string Describe()
    {
        var c = CultureInfo.InvariantCulture;
        var percent = Total > 0 ? Percent((double)Done / Total) : "–";
        var eta = Remaining is { } left ? TimeSpan.FromSeconds(Math.Ceiling(left.TotalSeconds)).ToString("c", c) : "–";
        var attended = TokensInput > 0 ? Percent((double)TokensAttended / TokensInput) : "–";
        return $"{Done.ToString(c)}/{Total.ToString(c)} docs ({percent}), {DocumentsPerSecond.ToString("0.0", c)} docs/s, ETA {eta}, " +
               $"tokens attended {TokensAttended.ToString(c)} / input {TokensInput.ToString(c)} ({attended})";
    }

    /// <summary><c>25%</c>: the invariant culture would write <c>25 %</c>.</summary>
    internal static string Percent(double fraction) => (fraction * 100).ToString("0", CultureInfo.InvariantCulture) + "%";
}

/// <summary>How progress is shown: a live Spectre.Console bar on a terminal, periodic log lines otherwise.</summary>
internal static class ReclassifyProgressDisplay
{
    /// <summary>Runs <paramref name="job"/> under a live progress bar drawn on <paramref name="console"/>.</summary>
    public static Task<T> WithBarAsync<T>(IAnsiConsole console, string title, Func<Action<ReclassifyProgress>, Task<T>> job)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(job);
        return console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(title), autoStart: true, maxValue: 1);
                var result = await job(progress =>
                {
                    task.MaxValue = Math.Max(1, progress.Total);
                    task.Value = Math.Min(progress.Done, task.MaxValue);
                    task.Description = Markup.Escape($"{title}: {progress.Describe()}");
                }).ConfigureAwait(false);
                task.Value = task.MaxValue;
                task.StopTask();
                return result;
            });
    }

    /// <summary>A progress callback that logs one line at most every <paramref name="interval"/> (and the first batch).</summary>
    public static Action<ReclassifyProgress> Periodic(ILogger logger, TimeSpan interval, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(time);
        DateTimeOffset? last = null;
        return progress =>
        {
            var now = time.GetUtcNow();
            if (last is null || now - last >= interval)
            {
                last = now;
                ReclassifyLog.Progress(logger, progress.Done, progress.Total, progress.DocumentsPerSecond, progress.Describe());
            }
        };
    }
}

/// <summary>Log messages of <c>reclassify</c>, with stable event ids (1600-1619).</summary>
internal static partial class ReclassifyLog
{
    [LoggerMessage(1600, LogLevel.Information, "Reclassifying with model {ModelVersion} ({Method}) on {Device}: {Total} documents from {Source}{DryRun}")]
    public static partial void Started(ILogger logger, string modelVersion, string method, string device, long total, string source, string dryRun);

    [LoggerMessage(1601, LogLevel.Information, "Progress: {Done}/{Total} documents, {DocumentsPerSecond:0.0} docs/s; {Progress}")]
    public static partial void Progress(ILogger logger, long done, long total, double documentsPerSecond, string progress);

    [LoggerMessage(1602, LogLevel.Information, "Reclassification {Outcome}: {Processed} documents processed, {Written} rows written, {Changed} labels changed, {DocumentsPerSecond:0.0} docs/s")]
    public static partial void Finished(ILogger logger, string outcome, long processed, long written, long changed, double documentsPerSecond);

    [LoggerMessage(1603, LogLevel.Warning, "Skipped an input entry: {Problem}")]
    public static partial void InputProblem(ILogger logger, string problem);

    [LoggerMessage(1604, LogLevel.Warning, "Document {DocumentId} has no tokens to classify; skipped")]
    public static partial void EmptyDocument(ILogger logger, string documentId);
}
