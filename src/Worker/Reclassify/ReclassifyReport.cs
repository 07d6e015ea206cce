using System.Globalization;
using System.Text.Json.Serialization;
using Spectre.Console;
using Triage.Storage;

namespace Triage.Worker.Reclassify;

/// <summary>What a <c>reclassify</c> run did; <see cref="ReclassifyReportBuilder"/> fills it in as batches finish.</summary>
internal sealed record ReclassifyReport
{
    /// <summary>The label of a document that had no earlier result to compare with.</summary>
    public const string NoPrevious = "(none)";

    public required string ModelVersion { get; init; }

    public required string Method { get; init; }

    public required string Source { get; init; }

    public required bool DryRun { get; init; }

    /// <summary>The version compared against (<c>--compare-to</c>), or null: each document's most recent other version.</summary>
    public required string? CompareTo { get; init; }

    public required double LowConfidenceThreshold { get; init; }

    /// <summary>True when the run was stopped (SIGTERM, Ctrl+C) before the end; what it wrote stays, and a restart continues.</summary>
    public bool Interrupted { get; init; }

    /// <summary>Documents the source offered at the start (capped by <c>--limit</c>).</summary>
    public long Total { get; init; }

    /// <summary>Documents classified (and written, unless a dry run).</summary>
    public long Processed { get; init; }

    /// <summary>Result rows written for <see cref="ModelVersion"/> (0 in a dry run).</summary>
    public long Written { get; init; }

    /// <summary>Entries skipped because they already had a row for the version (file input), or repeated an id.</summary>
    public long AlreadyDone { get; init; }

    /// <summary>Documents whose text has no tokens, plus unreadable files or lines.</summary>
    public long Skipped { get; init; }

    public long Batches { get; init; }

    public long TokensInput { get; init; }

    /// <summary>Keys attended, averaged over layers (as stored per row, rounded): below the input when a pruning
    /// method drops tokens.</summary>
    public long TokensAttended { get; init; }

    public long LowConfidence { get; init; }

    /// <summary>Processed documents whose label differs from the compared version's.</summary>
    public long Changed { get; init; }

    /// <summary>Processed documents that had no row of another (or the <c>--compare-to</c>) version.</summary>
    public long WithoutPrevious { get; init; }

    /// <summary>Old label → new label → documents; old label <see cref="NoPrevious"/> when there was none.</summary>
    public required IReadOnlyDictionary<string, IReadOnlyDictionary<string, long>> Confusion { get; init; }

    /// <summary>Which versions the old labels came from, and how many documents each.</summary>
    public required IReadOnlyDictionary<string, long> ComparedVersions { get; init; }

    public double ElapsedSeconds { get; init; }

    [JsonPropertyName("docsPerSecond")]
    public double DocumentsPerSecond => ElapsedSeconds > 0 ? Processed / ElapsedSeconds : 0;

    public double TokensPerSecond => ElapsedSeconds > 0 ? TokensInput / ElapsedSeconds : 0;

    /// <summary>The report as tables, for a person.</summary>
    public void Write(IAnsiConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        var c = CultureInfo.InvariantCulture;
        var title = $"Reclassified with {ModelVersion} ({Method}){(DryRun ? " — dry run, nothing written" : "")}{(Interrupted ? " — interrupted, run again to continue" : "")}";
        console.WriteLine(title);
        console.WriteLine($"Source: {Source}");
        var summary = new Table().AddColumns("", "value").HideHeaders();
        summary.AddRow("documents processed", Processed.ToString(c));
        summary.AddRow("rows written", Written.ToString(c));
        summary.AddRow("already had the version (skipped)", AlreadyDone.ToString(c));
        summary.AddRow("skipped (no tokens / unreadable)", Skipped.ToString(c));
        summary.AddRow("label changed", $"{Changed.ToString(c)} of {(Processed - WithoutPrevious).ToString(c)} compared");
        summary.AddRow("no earlier result", WithoutPrevious.ToString(c));
        summary.AddRow($"confidence < {LowConfidenceThreshold.ToString("0.###", c)}", LowConfidence.ToString(c));
        summary.AddRow("tokens attended / input", $"{TokensAttended.ToString(c)} / {TokensInput.ToString(c)}{(TokensInput > 0 ? $" ({ReclassifyProgress.Percent((double)TokensAttended / TokensInput)})" : "")}");
        summary.AddRow("throughput", $"{DocumentsPerSecond.ToString("0.0", c)} docs/s, {TokensPerSecond.ToString("0", c)} tokens/s, {ElapsedSeconds.ToString("0.0", c)} s, {Batches.ToString(c)} batches");
        console.Write(summary);

        if (Confusion.Count == 0)
        {
            return;
        }

        var compared = CompareTo ?? (ComparedVersions.Count == 0 ? "none" : string.Join(", ", ComparedVersions.Select(v => $"{v.Key} ({v.Value.ToString(c)})")));
        console.WriteLine($"Label changes: rows = old label ({compared}), columns = new label ({ModelVersion})");
        var newLabels = Confusion.Values.SelectMany(r => r.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        var table = new Table().AddColumn("old \\ new");
        foreach (var label in newLabels)
        {
            table.AddColumn(new TableColumn(Markup.Escape(label)).RightAligned());
        }

        foreach (var (old, row) in Confusion.OrderBy(r => r.Key == NoPrevious ? 1 : 0).ThenBy(r => r.Key, StringComparer.Ordinal))
        {
            table.AddRow([Markup.Escape(old), .. newLabels.Select(l => row.TryGetValue(l, out var n) ? n.ToString(c) : "0")]);
        }

        console.Write(table);
    }
}

/// <summary>Accumulates a <see cref="ReclassifyReport"/>; not thread-safe (the job adds from one loop).</summary>
internal sealed class ReclassifyReportBuilder(string modelVersion, string method, string source, bool dryRun, string? compareTo, double lowConfidence)
{
    private readonly Dictionary<string, Dictionary<string, long>> _confusion = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, long> _compared = new(StringComparer.Ordinal);
    private long _processed;
    private long _written;
    private long _alreadyDone;
    private long _skipped;
    private long _batches;
    private long _tokensInput;
    private long _tokensAttended;
    private long _lowConfidence;
    private long _changed;
    private long _withoutPrevious;

    public long Total { get; set; }

    public long Processed => _processed;

    public long AlreadyDone => _alreadyDone;

    public long Skipped => _skipped;

    public long TokensInput => _tokensInput;

    public long TokensAttended => _tokensAttended;

    /// <summary>The row to compare with: the <c>--compare-to</c> version, else the most recent other version.</summary>
    public ClassificationResult? PickPrevious(IEnumerable<ClassificationResult> rowsOfDocument) => compareTo is not null
        ? rowsOfDocument.FirstOrDefault(r => r.ModelVersion == compareTo)
        : rowsOfDocument.Where(r => r.ModelVersion != modelVersion)
            .OrderByDescending(r => r.ProcessedAt).ThenByDescending(r => r.ModelVersion, StringComparer.Ordinal).FirstOrDefault();

    public void AddSkipped(int alreadyDone, int skipped)
    {
        _alreadyDone += alreadyDone;
        _skipped += skipped;
    }

    public void AddBatch(IReadOnlyList<(ClassificationResult New, ClassificationResult? Previous)> rows, bool written)
    {
        _batches++;
        foreach (var (result, previous) in rows)
        {
            _processed++;
            _tokensInput += result.TokensInput;
            _tokensAttended += result.TokensAttended;
            if (result.Confidence < lowConfidence)
            {
                _lowConfidence++;
            }

            var old = previous?.Label ?? ReclassifyReport.NoPrevious;
            if (previous is null)
            {
                _withoutPrevious++;
            }
            else
            {
                _compared[previous.ModelVersion] = _compared.GetValueOrDefault(previous.ModelVersion) + 1;
                if (!string.Equals(previous.Label, result.Label, StringComparison.Ordinal))
                {
                    _changed++;
                }
            }

            if (!_confusion.TryGetValue(old, out var row))
            {
                _confusion[old] = row = new Dictionary<string, long>(StringComparer.Ordinal);
            }

            row[result.Label] = row.GetValueOrDefault(result.Label) + 1;
        }

        if (written)
        {
            _written += rows.Count;
        }
    }

    public ReclassifyReport Build(TimeSpan elapsed, bool interrupted) => new()
    {
        ModelVersion = modelVersion,
        Method = method,
        Source = source,
        DryRun = dryRun,
        CompareTo = compareTo,
        LowConfidenceThreshold = lowConfidence,
        Interrupted = interrupted,
        Total = Total,
        Processed = _processed,
        Written = _written,
        AlreadyDone = _alreadyDone,
        Skipped = _skipped,
        Batches = _batches,
        TokensInput = _tokensInput,
        TokensAttended = _tokensAttended,
        LowConfidence = _lowConfidence,
        Changed = _changed,
        WithoutPrevious = _withoutPrevious,
        Confusion = _confusion.OrderBy(r => r.Key, StringComparer.Ordinal).ToDictionary(
            r => r.Key, r => (IReadOnlyDictionary<string, long>)new SortedDictionary<string, long>(r.Value, StringComparer.Ordinal), StringComparer.Ordinal),
        ComparedVersions = new SortedDictionary<string, long>(_compared, StringComparer.Ordinal),
        ElapsedSeconds = elapsed.TotalSeconds,
    };
}
