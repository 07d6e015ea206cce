using Triage.Classifier.Inference;
using Triage.Classifier.Models;
using Triage.Classifier.Runtime;

namespace Triage.Worker.Pipeline;

/// <summary>What a result row and the <c>triage.model.info</c> gauge say about the loaded model.</summary>
internal sealed record ModelInfo(string Version, string Method, string Device, IReadOnlyList<string> Labels);

/// <summary>
/// The model as the pipeline sees it. <see cref="Prepare"/> is thread-safe (tokeniser workers call it);
/// <see cref="Classify"/> is called from one inference thread only.
/// </summary>
internal interface IBatchClassifier : IDisposable
{
    ModelInfo Info { get; }

    PreparedDocument Prepare(string text);

    IReadOnlyList<Prediction> Classify(IReadOnlyList<PreparedDocument> batch);
}

/// <summary>Loads the configured model; a seam so tests can put a failing model in its place.</summary>
internal interface IBatchClassifierLoader
{
    IBatchClassifier Load(string path, string device, int threads);
}

/// <summary>A <see cref="TriageModel"/> with its <see cref="DocumentClassifier"/>.</summary>
internal sealed class TriageBatchClassifier : IBatchClassifier
{
    private readonly TriageModel _model;
    private readonly DocumentClassifier _classifier;

    private TriageBatchClassifier(TriageModel model)
    {
        _model = model;
        _classifier = new DocumentClassifier(model);
        Info = new ModelInfo(model.Manifest.ModelVersion, model.Manifest.Method.Name, model.Device.ToString(), model.Manifest.Labels);
    }

    public ModelInfo Info { get; }

    /// <summary>Loads a model directory; throws <see cref="Triage.Classifier.Checkpoints.CheckpointException"/> naming what is wrong.</summary>
    public static TriageBatchClassifier Load(string path, string device, int threads)
    {
        TorchRuntime.EnsureInitialized();
        TorchRuntime.ConfigureThreads(threads);
        return new TriageBatchClassifier(TriageModel.Load(path, TorchRuntime.ResolveDevice(device)));
    }

    public PreparedDocument Prepare(string text) => _classifier.Prepare(text);

    public IReadOnlyList<Prediction> Classify(IReadOnlyList<PreparedDocument> batch) => _classifier.Classify(batch);

    public void Dispose() => _model.Dispose();
}

internal sealed class TriageBatchClassifierLoader : IBatchClassifierLoader
{
    public IBatchClassifier Load(string path, string device, int threads) => TriageBatchClassifier.Load(path, device, threads);
}

/// <summary>Finds a model directory given as a relative path.</summary>
internal static class ModelPaths
{
    /// <summary>Absolute paths as given; relative ones against the current directory, else against the directories
    /// above the binary (so <c>models/bbc-news</c> resolves from anywhere inside the repository build).</summary>
    public static string Resolve(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Path.IsPathRooted(path) || Directory.Exists(path))
        {
            return Path.GetFullPath(path);
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, path);
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        return Path.GetFullPath(path);
    }
}
