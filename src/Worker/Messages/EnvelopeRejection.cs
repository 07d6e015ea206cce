using System.Diagnostics.CodeAnalysis;

namespace Triage.Worker.Messages;

/// <summary>Why a message is not a usable document. The names are stable: they become dead-letter reasons and
/// metric tags, so rename none of them.</summary>
internal enum EnvelopeRejectionReason
{
    /// <summary>The body (or the claim-check file) is empty or only whitespace.</summary>
    EmptyBody,

    /// <summary>The bytes are not valid UTF-8.</summary>
    InvalidUtf8,

    /// <summary>NUL or other control bytes: a binary payload, not text.</summary>
    BinaryBody,

    /// <summary>A JSON body that does not parse, is not an object, or has fields of the wrong type.</summary>
    MalformedJson,

    /// <summary>No non-empty string <c>id</c> (or, for plain text, no MessageId).</summary>
    MissingId,

    /// <summary>Neither <c>text</c> nor <c>uri</c>.</summary>
    MissingText,

    /// <summary>Both <c>text</c> and <c>uri</c>, so it is unclear which is the document.</summary>
    TextAndUri,

    /// <summary>A message or document content type the worker does not handle.</summary>
    UnknownContentType,

    /// <summary>The body is larger than the configured maximum.</summary>
    MessageTooLarge,

    /// <summary>The claim check could not be read: bad URI, unsupported scheme, missing or unreadable file.</summary>
    ClaimCheckUnreadable,

    /// <summary>The claim-check document is larger than the configured maximum.</summary>
    ClaimCheckTooLarge,
}

internal sealed record EnvelopeRejection(EnvelopeRejectionReason Reason, string Description)
{
    /// <summary>The stable code used as dead-letter reason.</summary>
    public string Code => Reason.ToString();
}

/// <summary>Either a document or the reason there is none.</summary>
internal sealed class EnvelopeParseResult
{
    private EnvelopeParseResult(DocumentEnvelope? envelope, EnvelopeRejection? rejection)
    {
        Envelope = envelope;
        Rejection = rejection;
    }

    public DocumentEnvelope? Envelope { get; }

    public EnvelopeRejection? Rejection { get; }

    [MemberNotNullWhen(true, nameof(Envelope))]
    [MemberNotNullWhen(false, nameof(Rejection))]
    public bool IsSuccess => Envelope is not null;

    public static EnvelopeParseResult Success(DocumentEnvelope envelope) => new(envelope, null);

    public static EnvelopeParseResult Reject(EnvelopeRejectionReason reason, string description) =>
        new(null, new EnvelopeRejection(reason, description));

    public override string ToString() => IsSuccess ? $"Document {Envelope.Id}" : $"{Rejection.Code}: {Rejection.Description}";
}
