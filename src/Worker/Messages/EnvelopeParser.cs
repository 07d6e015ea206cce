using System.Collections.ObjectModel;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Microsoft.Extensions.Options;
using Triage.Worker.Queues;

namespace Triage.Worker.Messages;

/// <summary>
/// Turns a queue message into a <see cref="DocumentEnvelope"/> or a rejection with a stable reason. Two body forms:
/// a JSON envelope <c>{ "id", "text" | "uri", "contentType"?, "metadata"? }</c> (content type
/// <c>application/json</c>, or none and a body starting with <c>{</c>), or the document itself as text
/// (<c>text/plain</c>, <c>text/markdown</c>, <c>text/html</c>) with the MessageId as its id.
/// </summary>
internal sealed class EnvelopeParser
{
    private static readonly IReadOnlyDictionary<string, JsonElement> NoMetadata =
        new ReadOnlyDictionary<string, JsonElement>(new Dictionary<string, JsonElement>());

    private readonly EnvelopeOptions _options;
    private readonly IReadOnlyList<IClaimCheckReader> _claimCheckReaders;

    public EnvelopeParser(IOptions<EnvelopeOptions> options, IEnumerable<IClaimCheckReader> claimCheckReaders)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(claimCheckReaders);
        _options = options.Value;
        _claimCheckReaders = claimCheckReaders.ToList();
    }

    public Task<EnvelopeParseResult> ParseAsync(ReceivedMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return ParseAsync(message.MessageId, message.Body, message.ContentType, cancellationToken);
    }

    public async Task<EnvelopeParseResult> ParseAsync(string? messageId, ReadOnlyMemory<byte> body, string? contentType, CancellationToken cancellationToken)
    {
        if (body.Length > _options.MaxMessageBytes)
        {
            return Reject(EnvelopeRejectionReason.MessageTooLarge, $"The body is {body.Length} bytes; the limit is {_options.MaxMessageBytes} bytes. Send large documents as a claim check (uri).");
        }

        var bytes = StripBom(body.Span);
        if (IsBlank(bytes))
        {
            return Reject(EnvelopeRejectionReason.EmptyBody, "The body is empty.");
        }

        if (CheckText(bytes, "The body") is { } textProblem)
        {
            return textProblem;
        }

        if (!TryClassify(contentType, bytes, out var isJson, out var documentType, out var typeProblem))
        {
            return typeProblem;
        }

        if (!isJson)
        {
            return string.IsNullOrWhiteSpace(messageId)
                ? Reject(EnvelopeRejectionReason.MissingId, "A plain-text message needs a MessageId, which becomes the document id.")
                : EnvelopeParseResult.Success(new DocumentEnvelope(messageId, Encoding.UTF8.GetString(bytes), documentType, NoMetadata));
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body[(body.Length - bytes.Length)..]);
        }
        catch (JsonException exception)
        {
            return Reject(EnvelopeRejectionReason.MalformedJson, exception.Message);
        }

        using (document)
        {
            return await ParseEnvelopeAsync(document.RootElement, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<EnvelopeParseResult> ParseEnvelopeAsync(JsonElement root, CancellationToken cancellationToken)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return Reject(EnvelopeRejectionReason.MalformedJson, $"The envelope must be a JSON object, not {root.ValueKind}.");
        }

        if (!root.TryGetProperty("id", out var idElement) || idElement.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(idElement.GetString()))
        {
            return Reject(EnvelopeRejectionReason.MissingId, "The envelope has no non-empty string 'id'.");
        }

        var id = idElement.GetString()!;
        var contentType = DocumentContentTypes.PlainText;
        if (root.TryGetProperty("contentType", out var typeElement) && typeElement.ValueKind != JsonValueKind.Null)
        {
            if (typeElement.ValueKind != JsonValueKind.String)
            {
                return Reject(EnvelopeRejectionReason.MalformedJson, "'contentType' must be a string.");
            }

            contentType = MediaType(typeElement.GetString()!);
            if (!DocumentContentTypes.IsKnown(contentType))
            {
                return Reject(EnvelopeRejectionReason.UnknownContentType, $"Document content type '{typeElement.GetString()}' is not one of text/plain, text/markdown, text/html.");
            }
        }

        var metadata = NoMetadata;
        if (root.TryGetProperty("metadata", out var metadataElement) && metadataElement.ValueKind != JsonValueKind.Null)
        {
            if (metadataElement.ValueKind != JsonValueKind.Object)
            {
                return Reject(EnvelopeRejectionReason.MalformedJson, "'metadata' must be an object.");
            }

            // Clone: the values must outlive the JsonDocument, which is returned to the pool.
            metadata = new ReadOnlyDictionary<string, JsonElement>(
                metadataElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal));
        }

        var hasText = root.TryGetProperty("text", out var textElement) && textElement.ValueKind != JsonValueKind.Null;
        var hasUri = root.TryGetProperty("uri", out var uriElement) && uriElement.ValueKind != JsonValueKind.Null;
        if (hasText && hasUri)
        {
            return Reject(EnvelopeRejectionReason.TextAndUri, "The envelope has both 'text' and 'uri'; send one.");
        }

        if (hasText)
        {
            if (textElement.ValueKind != JsonValueKind.String)
            {
                return Reject(EnvelopeRejectionReason.MalformedJson, "'text' must be a string.");
            }

            var text = textElement.GetString()!;
            if (string.IsNullOrWhiteSpace(text))
            {
                return Reject(EnvelopeRejectionReason.MissingText, "'text' is empty.");
            }

            // JSON escapes (\u0000) can smuggle in what the raw-byte check cannot see.
            return ContainsControl(text)
                ? Reject(EnvelopeRejectionReason.BinaryBody, "'text' contains NUL or control characters.")
                : EnvelopeParseResult.Success(new DocumentEnvelope(id, text, contentType, metadata));
        }

        if (!hasUri)
        {
            return Reject(EnvelopeRejectionReason.MissingText, "The envelope has neither 'text' nor 'uri'.");
        }

        if (uriElement.ValueKind != JsonValueKind.String)
        {
            return Reject(EnvelopeRejectionReason.MalformedJson, "'uri' must be a string.");
        }

        return await ReadClaimCheckAsync(id, uriElement.GetString()!, contentType, metadata, cancellationToken).ConfigureAwait(false);
    }

    private async Task<EnvelopeParseResult> ReadClaimCheckAsync(
        string id, string uriText, string contentType, IReadOnlyDictionary<string, JsonElement> metadata, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(uriText, UriKind.Absolute, out var uri))
        {
            return Reject(EnvelopeRejectionReason.ClaimCheckUnreadable, $"'{uriText}' is not an absolute URI.");
        }

        var reader = _claimCheckReaders.FirstOrDefault(r => r.CanRead(uri));
        if (reader is null)
        {
            return Reject(EnvelopeRejectionReason.ClaimCheckUnreadable, $"No claim-check reader handles '{uri.Scheme}' URIs.");
        }

        byte[] content;
        try
        {
            content = await reader.ReadAsync(uri, _options.MaxClaimCheckBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (ClaimCheckException exception)
        {
            return Reject(exception.TooLarge ? EnvelopeRejectionReason.ClaimCheckTooLarge : EnvelopeRejectionReason.ClaimCheckUnreadable, exception.Message);
        }

        var bytes = StripBom(content);
        if (IsBlank(bytes))
        {
            return Reject(EnvelopeRejectionReason.EmptyBody, $"The claim-check document '{uri}' is empty.");
        }

        if (CheckText(bytes, $"The claim-check document '{uri}'") is { } problem)
        {
            return problem;
        }

        return EnvelopeParseResult.Success(new DocumentEnvelope(id, Encoding.UTF8.GetString(bytes), contentType, metadata) { ClaimCheck = uri });
    }

    /// <summary>Decides between a JSON envelope and a bare document from the transport's content type.</summary>
    private static bool TryClassify(string? contentType, ReadOnlySpan<byte> bytes, out bool isJson, out string documentType, out EnvelopeParseResult problem)
    {
        problem = null!;
        documentType = DocumentContentTypes.PlainText;
        isJson = false;
        if (string.IsNullOrWhiteSpace(contentType))
        {
            // Producers that set no content type: an object is an envelope, anything else is the text itself.
            isJson = FirstNonWhitespace(bytes) == (byte)'{';
            return true;
        }

        if (Charset(contentType) is { } charset && !charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase)
            && !charset.Equals("utf8", StringComparison.OrdinalIgnoreCase) && !charset.Equals("us-ascii", StringComparison.OrdinalIgnoreCase))
        {
            problem = Reject(EnvelopeRejectionReason.UnknownContentType, $"Charset '{charset}' is not supported; send UTF-8.");
            return false;
        }

        var mediaType = MediaType(contentType);
        if (mediaType == "application/json" || mediaType.EndsWith("+json", StringComparison.Ordinal))
        {
            isJson = true;
            return true;
        }

        if (DocumentContentTypes.IsKnown(mediaType))
        {
            documentType = mediaType;
            return true;
        }

        problem = Reject(EnvelopeRejectionReason.UnknownContentType, $"Message content type '{contentType}' is not application/json, text/plain, text/markdown or text/html.");
        return false;
    }

    private static EnvelopeParseResult? CheckText(ReadOnlySpan<byte> bytes, string what)
    {
        // Control bytes first: a binary payload is usually also invalid UTF-8, and "binary" is the better diagnosis.
        var control = bytes.IndexOfAnyInRange((byte)0x00, (byte)0x08);
        if (control < 0)
        {
            control = bytes.IndexOfAnyInRange((byte)0x0E, (byte)0x1F);
        }

        if (control < 0)
        {
            control = bytes.IndexOf((byte)0x7F);
        }

        if (control >= 0)
        {
            return Reject(EnvelopeRejectionReason.BinaryBody, $"{what} contains control byte 0x{bytes[control]:X2} at offset {control}; it is not text.");
        }

        return Utf8.IsValid(bytes) ? null : Reject(EnvelopeRejectionReason.InvalidUtf8, $"{what} is not valid UTF-8.");
    }

    private static bool ContainsControl(string text)
    {
        foreach (var c in text)
        {
            if (c is (>= '\0' and <= '\b') or (>= '\u000E' and <= '\u001F') or '\u007F')
            {
                return true;
            }
        }

        return false;
    }

    private static ReadOnlySpan<byte> StripBom(ReadOnlySpan<byte> bytes) =>
        bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? bytes[3..] : bytes;

    private static bool IsBlank(ReadOnlySpan<byte> bytes) => FirstNonWhitespace(bytes) < 0;

    private static int FirstNonWhitespace(ReadOnlySpan<byte> bytes)
    {
        var index = bytes.IndexOfAnyExcept((ReadOnlySpan<byte>)" \t\r\n\f\v"u8);
        return index < 0 ? -1 : bytes[index];
    }

    private static string MediaType(string contentType)
    {
        var semicolon = contentType.IndexOf(';', StringComparison.Ordinal);
        return (semicolon < 0 ? contentType : contentType[..semicolon]).Trim().ToLowerInvariant();
    }

    private static string? Charset(string contentType)
    {
        foreach (var parameter in contentType.Split(';').Skip(1))
        {
            var pair = parameter.Split('=', 2, StringSplitOptions.TrimEntries);
            if (pair.Length == 2 && pair[0].Equals("charset", StringComparison.OrdinalIgnoreCase))
            {
                return pair[1].Trim('"');
            }
        }

        return null;
    }

    private static EnvelopeParseResult Reject(EnvelopeRejectionReason reason, string description) =>
        EnvelopeParseResult.Reject(reason, description);
}
