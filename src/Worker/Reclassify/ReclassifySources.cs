using System.Text;
using System.Text.Json;
using Triage.Storage;

namespace Triage.Worker.Reclassify;

/// <summary>A known document to run the new model version over.</summary>
internal sealed record SourceDocument(string Id, string Text);

/// <summary>
/// Where <c>reclassify</c> finds its documents. A source hands out each document at most once per run, in pages,
/// and only documents that have no result row for the target model version yet: that is what makes a restarted run
/// continue where the previous one stopped.
/// </summary>
internal interface IReclassifySource
{
    /// <summary>For the report and the progress bar: <c>database</c>, a directory or a file.</summary>
    string Description { get; }

    /// <summary>Documents this run will look at, at most: for the database those still missing the version; for
    /// files every entry (those already done are found, skipped and counted while reading).</summary>
    Task<long> CountAsync(CancellationToken cancellationToken);

    /// <summary>The next up to <paramref name="limit"/> documents without a row for the target version; empty at the end.</summary>
    Task<SourcePage> NextPageAsync(int limit, CancellationToken cancellationToken);
}

/// <summary>One page: the documents to classify, plus entries passed over because they already had the version
/// (files only) or could not be read.</summary>
internal sealed record SourcePage(IReadOnlyList<SourceDocument> Documents, int AlreadyDone, int Invalid)
{
    public static readonly SourcePage End = new([], 0, 0);

    public bool IsEnd => Documents.Count == 0 && AlreadyDone == 0 && Invalid == 0;
}

/// <summary>
/// The <c>documents</c> table, by keyset pagination on the document id. The query itself leaves out documents that
/// already have a row for the version (written by an earlier run, or by a live worker running the same model); the
/// cursor keeps a dry run or a document that cannot be classified from being fetched again within one run.
/// </summary>
internal sealed class DatabaseSource(IResultsRepository repository, string modelVersion) : IReclassifySource
{
    private string? _after;
    private bool _done;

    public string Description => "database " + repository.Description;

    public Task<long> CountAsync(CancellationToken cancellationToken) =>
        repository.CountDocumentsMissingVersionAsync(modelVersion, cancellationToken);

    public async Task<SourcePage> NextPageAsync(int limit, CancellationToken cancellationToken)
    {
        if (_done)
        {
            return SourcePage.End;
        }

        var page = await repository.GetDocumentsMissingVersionAsync(modelVersion, limit, _after, cancellationToken).ConfigureAwait(false);
        if (page.Count < limit)
        {
            _done = true;
        }

        if (page.Count == 0)
        {
            return SourcePage.End;
        }

        _after = page[^1].DocumentId;
        return new SourcePage(page.Select(d => new SourceDocument(d.DocumentId, d.Content)).ToList(), 0, 0);
    }
}

/// <summary>
/// A directory of text files (id = file name without extension, as <c>enqueue</c> and <c>classify</c> use) or a JSON
/// Lines export (<c>{"id": …, "text": …}</c>; <c>document_id</c>/<c>content</c> as in the documents table also
/// work). Entries whose id already has a row for the version are skipped, so a restart continues; an id seen twice
/// in one run is classified once.
/// </summary>
internal sealed class FileSource : IReclassifySource, IDisposable
{
    private readonly string _path;
    private readonly IResultsRepository _repository;
    private readonly string _modelVersion;
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private readonly string[]? _files;
    private int _nextFile;
    private StreamReader? _lines;
    private long _lineNumber;

    public FileSource(string path, IResultsRepository repository, string modelVersion)
    {
        _path = Path.GetFullPath(path);
        _repository = repository;
        _modelVersion = modelVersion;
        if (Directory.Exists(_path))
        {
            _files = Directory.GetFiles(_path).Order(StringComparer.Ordinal).ToArray();
        }
        else if (!File.Exists(_path))
        {
            throw new FileNotFoundException($"--input: {_path} is neither a directory nor a file.");
        }
    }

    /// <summary>Lines that were not a JSON object with an id and a text, with their line numbers, for the log.</summary>
    public List<string> Problems { get; } = [];

    public string Description => (_files is null ? "file " : "directory ") + _path;

    public async Task<long> CountAsync(CancellationToken cancellationToken)
    {
        if (_files is not null)
        {
            return _files.Length;
        }

        long count = 0;
        using var reader = OpenLines();
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (!string.IsNullOrWhiteSpace(line))
            {
                count++;
            }
        }

        return count;
    }

    public async Task<SourcePage> NextPageAsync(int limit, CancellationToken cancellationToken)
    {
        var candidates = new List<SourceDocument>();
        var invalid = 0;
        var duplicates = 0;
        while (candidates.Count < limit)
        {
            var (entry, bad, end) = await ReadEntryAsync(cancellationToken).ConfigureAwait(false);
            if (end)
            {
                break;
            }

            if (bad)
            {
                invalid++;
            }
            else if (!_seen.Add(entry!.Id))
            {
                duplicates++;
            }
            else
            {
                candidates.Add(entry);
            }
        }

        if (candidates.Count == 0)
        {
            return invalid + duplicates == 0 ? SourcePage.End : new SourcePage([], duplicates, invalid);
        }

        var existing = await _repository.GetResultsForDocumentsAsync(candidates.Select(c => c.Id).ToList(), cancellationToken).ConfigureAwait(false);
        var done = existing.Where(r => r.ModelVersion == _modelVersion).Select(r => r.DocumentId).ToHashSet(StringComparer.Ordinal);
        var todo = candidates.Where(c => !done.Contains(c.Id)).ToList();
        return new SourcePage(todo, candidates.Count - todo.Count + duplicates, invalid);
    }

    public void Dispose() => _lines?.Dispose();

    private async Task<(SourceDocument? Entry, bool Invalid, bool End)> ReadEntryAsync(CancellationToken cancellationToken)
    {
        if (_files is not null)
        {
            if (_nextFile >= _files.Length)
            {
                return (null, false, true);
            }

            var file = _files[_nextFile++];
            try
            {
                var text = await File.ReadAllTextAsync(file, new UTF8Encoding(false, throwOnInvalidBytes: true), cancellationToken).ConfigureAwait(false);
                return (new SourceDocument(Path.GetFileNameWithoutExtension(file), text), false, false);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or DecoderFallbackException)
            {
                Problems.Add($"{file}: {exception.Message}");
                return (null, true, false);
            }
        }

        _lines ??= OpenLines();
        while (true)
        {
            var line = await _lines.ReadLineAsync(cancellationToken).ConfigureAwait(false);
            if (line is null)
            {
                return (null, false, true);
            }

            _lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            if (ParseLine(line) is { } entry)
            {
                return (entry, false, false);
            }

            Problems.Add($"{_path}:{_lineNumber}: not a JSON object with a string id and text");
            return (null, true, false);
        }
    }

    private StreamReader OpenLines() => new(_path, new UTF8Encoding(false, throwOnInvalidBytes: false), detectEncodingFromByteOrderMarks: true);

    internal static SourceDocument? ParseLine(string line)
    {
        try
        {
            using var json = JsonDocument.Parse(line);
            if (json.RootElement.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            var id = String(json.RootElement, "id") ?? String(json.RootElement, "document_id") ?? String(json.RootElement, "documentId");
            var text = String(json.RootElement, "text") ?? String(json.RootElement, "content");
            return string.IsNullOrEmpty(id) || text is null ? null : new SourceDocument(id, text);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
