using Triage.Classifier.Checkpoints;
using Triage.Classifier.Models;
using Triage.Classifier.Modeling;
using Triage.Classifier.Tokenization;

namespace Triage.Worker.Tests.Support;

/// <summary>Triage model directories built from the small random-weight parity-a encoder in ../shared.</summary>
internal static class TestModel
{
    public static readonly string[] Labels = ["business", "sport", "tech"];

    public const string Version = "test-parity-a-1";

    private static readonly Lazy<string> SharedDirectory = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), $"triage-worker-test-model-{Environment.ProcessId}");
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }

        return Create(dir);
    });

    /// <summary>One read-only model directory for the whole test run (building one takes a moment).</summary>
    public static string SharedPath => SharedDirectory.Value;

    /// <summary>Copied from tests/Classifier.Tests ModelDirectoryTests.CreateModel.</summary>
    public static string Create(string directory, LongDocumentPolicy? policy = null)
    {
        var source = SharedAssets.Models("parity-a");
        var config = BertConfig.Load(Path.Combine(source, "config.json"));
        using var network = new SequenceClassifier(config, Labels.Length, Pooling.Mean, new DenseStrategy());
        using (var file = SafeTensorsFile.Open(Path.Combine(source, "model.safetensors")))
        {
            CheckpointLoader.Load(network, file, "bert.", key => key.StartsWith("classifier.", StringComparison.Ordinal));
        }

        var manifest = new TriageManifest
        {
            ModelVersion = Version,
            Labels = Labels,
            LongDocument = policy ?? new LongDocumentPolicy(),
            Temperature = 1.5,
        };
        TriageModel.Save(directory, config, manifest, Path.Combine(source, "vocab.txt"), network);
        return directory;
    }
}

/// <summary>Finds ../shared (assets) from the test binary; TRIAGE_SHARED overrides.</summary>
internal static class SharedAssets
{
    public static string RepositoryRoot { get; } = LocateRepository();

    public static string Root { get; } = Locate();

    public static string Models(string name) => Path.Combine(Root, "assets", "models", name);

    private static string Locate()
    {
        var overridden = Environment.GetEnvironmentVariable("TRIAGE_SHARED");
        if (!string.IsNullOrEmpty(overridden))
        {
            return overridden;
        }

        var shared = Path.Combine(Directory.GetParent(RepositoryRoot)!.FullName, "shared");
        return Directory.Exists(shared)
            ? shared
            : throw new DirectoryNotFoundException($"Expected the shared assets at {shared} (beside the repository); set TRIAGE_SHARED to override.");
    }

    private static string LocateRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Triage.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("Could not find Triage.sln above the test binary.");
    }
}
