namespace Triage.Classifier.Tests.Support;

/// <summary>Finds ../shared (assets, golden outputs) from the test binary; TRIAGE_SHARED overrides.</summary>
internal static class SharedAssets
{
    public static string Root { get; } = Locate();

    public static string Models(string name) => Path.Combine(Root, "assets", "models", name);

    public static string Golden(string name) => Path.Combine(Root, "golden", name);

    public static string BertBaseVocab => Path.Combine(Root, "assets", "vocab", "bert-base-uncased", "vocab.txt");

    public static string Dataset(string name) => Path.Combine(Root, "assets", "datasets", name, name + ".jsonl");

    public static IEnumerable<string> GoldenFiles() => Directory.GetFiles(Path.Combine(Root, "golden"), "*.json").Order(StringComparer.Ordinal);

    private static string Locate()
    {
        var overridden = Environment.GetEnvironmentVariable("TRIAGE_SHARED");
        if (!string.IsNullOrEmpty(overridden))
        {
            return overridden;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Triage.sln")))
            {
                var shared = Path.Combine(dir.Parent!.FullName, "shared");
                if (Directory.Exists(shared))
                {
                    return shared;
                }

                throw new DirectoryNotFoundException($"Expected the shared assets at {shared} (beside the repository); set TRIAGE_SHARED to override.");
            }
        }

        throw new DirectoryNotFoundException("Could not find Triage.sln above the test binary; set TRIAGE_SHARED.");
    }
}

/// <summary>A scratch directory deleted at dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "triage-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder is harmless.
        }
    }
}
