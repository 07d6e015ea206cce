using System.Text.Json;

namespace Triage.Worker.Messages;

/// <summary>A document ready for classification.</summary>
/// <param name="Id">The document id (the envelope's <c>id</c>, or the MessageId for a plain-text body).</param>
/// <param name="Text">The document text (inline, or read from the claim check).</param>
/// <param name="ContentType">One of <see cref="DocumentContentTypes"/>.</param>
/// <param name="Metadata">The envelope's <c>metadata</c> object, empty when absent.</param>
internal sealed record DocumentEnvelope(string Id, string Text, string ContentType, IReadOnlyDictionary<string, JsonElement> Metadata)
{
    /// <summary>Where the text came from when it was a claim check; null for inline text.</summary>
    public Uri? ClaimCheck { get; init; }
}

/// <summary>The document formats the classifier understands.</summary>
internal static class DocumentContentTypes
{
    public const string PlainText = "text/plain";
    public const string Markdown = "text/markdown";
    public const string Html = "text/html";

    public static bool IsKnown(string contentType) => contentType is PlainText or Markdown or Html;
}
