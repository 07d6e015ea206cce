namespace Triage.Worker.Messages;

/// <summary>Reads a claim-check document (the <c>uri</c> of an envelope). One implementation per URI scheme, so
/// blob storage can be added beside <see cref="FileClaimCheckReader"/>.</summary>
internal interface IClaimCheckReader
{
    bool CanRead(Uri uri);

    /// <summary>Reads the whole document. Throws <see cref="ClaimCheckException"/> when it is unreadable or larger
    /// than <paramref name="maxBytes"/>.</summary>
    Task<byte[]> ReadAsync(Uri uri, long maxBytes, CancellationToken cancellationToken);
}

internal sealed class ClaimCheckException : Exception
{
    public ClaimCheckException()
    {
    }

    public ClaimCheckException(string message)
        : base(message)
    {
    }

    public ClaimCheckException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>True when the document exists but exceeds the size limit.</summary>
    public bool TooLarge { get; init; }
}
