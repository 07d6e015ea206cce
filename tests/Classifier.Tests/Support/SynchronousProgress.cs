namespace Triage.Classifier.Tests.Support;

/// <summary>Reports on the calling thread, so a test sees every report before the run returns.</summary>
internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
