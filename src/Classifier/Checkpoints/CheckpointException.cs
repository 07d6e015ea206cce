namespace Triage.Classifier.Checkpoints;

/// <summary>A checkpoint or model directory cannot be used; the message names the file, key or option at fault.</summary>
public sealed class CheckpointException : Exception
{
    public CheckpointException()
    {
    }

    public CheckpointException(string message)
        : base(message)
    {
    }

    public CheckpointException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
