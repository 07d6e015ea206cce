using System.Runtime.CompilerServices;
using Triage.Classifier.Inference;
using Triage.Worker.Pipeline;

namespace Triage.Worker.Tests.Support;

/// <summary>One batch as the scripted classifier sees it: its 0-based index in the run and the texts in it.</summary>
internal sealed record ScriptedBatch(int Index, IReadOnlyList<string> Texts);

/// <summary>
/// The real model behind the pipeline's <see cref="IBatchClassifierLoader"/> seam, with a hook that runs on the
/// inference thread before each batch: it may throw (a model failure) or block (a slow batch).
/// </summary>
internal sealed class ScriptedClassifierLoader(Action<ScriptedBatch> beforeClassify) : IBatchClassifierLoader
{
    public IBatchClassifier Load(string path, string device, int threads) =>
        new ScriptedClassifier(new TriageBatchClassifierLoader().Load(path, device, threads), beforeClassify);

    private sealed class ScriptedClassifier(IBatchClassifier inner, Action<ScriptedBatch> beforeClassify) : IBatchClassifier
    {
        // Prepared documents are records, but the table compares references: each maps back to the text it came from.
        private readonly ConditionalWeakTable<PreparedDocument, string> _texts = [];
        private int _batches;

        public ModelInfo Info => inner.Info;

        public PreparedDocument Prepare(string text)
        {
            var prepared = inner.Prepare(text);
            _texts.AddOrUpdate(prepared, text);
            return prepared;
        }

        public IReadOnlyList<Prediction> Classify(IReadOnlyList<PreparedDocument> batch)
        {
            var texts = batch.Select(p => _texts.TryGetValue(p, out var text) ? text : "").ToList();
            beforeClassify(new ScriptedBatch(Interlocked.Increment(ref _batches) - 1, texts));
            return inner.Classify(batch);
        }

        public void Dispose() => inner.Dispose();
    }
}

/// <summary>The failure a scripted model throws.</summary>
internal sealed class InjectedModelFailureException(string message) : Exception(message);
