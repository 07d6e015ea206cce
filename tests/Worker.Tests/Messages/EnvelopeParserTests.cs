using System.Text;
using Microsoft.Extensions.Options;
using Triage.Worker.Messages;
using Triage.Worker.Tests.Fakes;

namespace Triage.Worker.Tests.Messages;

public sealed class EnvelopeParserTests : IDisposable
{
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly TempDirectory _files = new("triage-claims");

    public void Dispose() => _files.Dispose();

    private static EnvelopeParser Parser(Action<EnvelopeOptions>? configure = null)
    {
        var options = new EnvelopeOptions();
        configure?.Invoke(options);
        var wrapped = Options.Create(options);
        return new EnvelopeParser(wrapped, [new FileClaimCheckReader(wrapped)]);
    }

    private static Task<EnvelopeParseResult> Parse(string body, string? contentType = "application/json", string? messageId = "msg-1", EnvelopeParser? parser = null) =>
        (parser ?? Parser()).ParseAsync(messageId, Encoding.UTF8.GetBytes(body), contentType, None);

    private static async Task AssertRejected(EnvelopeRejectionReason reason, Task<EnvelopeParseResult> parse)
    {
        var result = await parse;
        Assert.False(result.IsSuccess, $"expected {reason}, got a document");
        Assert.Equal(reason, result.Rejection.Reason);
        Assert.False(string.IsNullOrWhiteSpace(result.Rejection.Description));
    }

    [Fact]
    public async Task Json_envelope_with_inline_text_and_metadata()
    {
        var result = await Parse("""{ "id": "doc-7", "text": "Quarterly report", "contentType": "text/markdown", "metadata": { "source": "crm", "pages": 3 } }""");

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(("doc-7", "Quarterly report", "text/markdown"), (result.Envelope.Id, result.Envelope.Text, result.Envelope.ContentType));
        Assert.Equal("crm", result.Envelope.Metadata["source"].GetString());
        Assert.Equal(3, result.Envelope.Metadata["pages"].GetInt32());
        Assert.Null(result.Envelope.ClaimCheck);
    }

    [Fact]
    public async Task Json_envelope_defaults_to_text_plain_and_is_sniffed_without_a_content_type()
    {
        var result = await Parse("""  {"id":"d","text":"t"}""", contentType: null);

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(("d", "text/plain"), (result.Envelope.Id, result.Envelope.ContentType));
        Assert.Empty(result.Envelope.Metadata);
    }

    [Theory]
    [InlineData("text/plain", "text/plain")]
    [InlineData("text/markdown; charset=utf-8", "text/markdown")]
    [InlineData("TEXT/HTML", "text/html")]
    [InlineData(null, "text/plain")]
    public async Task Plain_body_is_the_document_and_the_message_id_its_id(string? contentType, string expectedType)
    {
        var result = await Parse("\uFEFFJust some text\nwith two lines", contentType, messageId: "m-42");

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(("m-42", "Just some text\nwith two lines", expectedType), (result.Envelope.Id, result.Envelope.Text, result.Envelope.ContentType));
    }

    [Fact]
    public async Task Claim_check_file_is_read()
    {
        var path = _files.File("doc.md");
        await File.WriteAllTextAsync(path, "# A long document");
        var uri = new Uri(path).AbsoluteUri;

        var result = await Parse($$"""{"id":"big","uri":"{{uri}}","contentType":"text/markdown"}""");

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(("big", "# A long document", "text/markdown"), (result.Envelope.Id, result.Envelope.Text, result.Envelope.ContentType));
        Assert.Equal(new Uri(path), result.Envelope.ClaimCheck);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \r\n\t")]
    public Task EmptyBody(string body) => AssertRejected(EnvelopeRejectionReason.EmptyBody, Parse(body, "text/plain"));

    [Fact]
    public Task EmptyBody_for_an_empty_claim_check_file()
    {
        var path = _files.File("empty.txt");
        File.WriteAllBytes(path, []);
        return AssertRejected(EnvelopeRejectionReason.EmptyBody, Parse($$"""{"id":"x","uri":"{{new Uri(path).AbsoluteUri}}"}"""));
    }

    [Fact]
    public Task InvalidUtf8() =>
        AssertRejected(EnvelopeRejectionReason.InvalidUtf8, Parser().ParseAsync("m", new byte[] { (byte)'o', (byte)'k', 0xC3, 0x28 }, "text/plain", None));

    [Fact]
    public Task InvalidUtf8_in_a_claim_check_file()
    {
        var path = _files.File("latin1.txt");
        File.WriteAllBytes(path, [(byte)'c', (byte)'a', (byte)'f', 0xE9]);
        return AssertRejected(EnvelopeRejectionReason.InvalidUtf8, Parse($$"""{"id":"x","uri":"{{new Uri(path).AbsoluteUri}}"}"""));
    }

    [Theory]
    [InlineData(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00 })] // PNG header
    [InlineData(new byte[] { (byte)'a', 0x00, (byte)'b' })]
    [InlineData(new byte[] { (byte)'a', 0x1B, (byte)'b' })]
    public Task BinaryBody(byte[] body) =>
        AssertRejected(EnvelopeRejectionReason.BinaryBody, Parser().ParseAsync("m", body, null, None));

    [Fact]
    public Task BinaryBody_smuggled_through_a_json_escape() =>
        AssertRejected(EnvelopeRejectionReason.BinaryBody, Parse("""{"id":"x","text":"a\u0000b"}"""));

    [Theory]
    [InlineData("{\"id\": \"x\", ")]
    [InlineData("[1, 2]")]
    [InlineData("not json")]
    [InlineData("""{"id":"x","text":42}""")]
    [InlineData("""{"id":"x","text":"t","metadata":[1]}""")]
    [InlineData("""{"id":"x","text":"t","contentType":7}""")]
    [InlineData("""{"id":"x","uri":false}""")]
    public Task MalformedJson(string body) => AssertRejected(EnvelopeRejectionReason.MalformedJson, Parse(body));

    [Theory]
    [InlineData("""{"text":"t"}""")]
    [InlineData("""{"id":"","text":"t"}""")]
    [InlineData("""{"id":"  ","text":"t"}""")]
    [InlineData("""{"id":17,"text":"t"}""")]
    [InlineData("""{"id":null,"text":"t"}""")]
    public Task MissingId(string body) => AssertRejected(EnvelopeRejectionReason.MissingId, Parse(body));

    [Fact]
    public Task MissingId_for_a_plain_body_without_a_message_id() =>
        AssertRejected(EnvelopeRejectionReason.MissingId, Parse("text", "text/plain", messageId: null));

    [Theory]
    [InlineData("""{"id":"x"}""")]
    [InlineData("""{"id":"x","text":""}""")]
    [InlineData("""{"id":"x","text":null,"uri":null}""")]
    public Task MissingText(string body) => AssertRejected(EnvelopeRejectionReason.MissingText, Parse(body));

    [Fact]
    public Task TextAndUri() =>
        AssertRejected(EnvelopeRejectionReason.TextAndUri, Parse("""{"id":"x","text":"t","uri":"file:///tmp/x"}"""));

    [Theory]
    [InlineData("""{"id":"x","text":"t","contentType":"application/pdf"}""", "application/json")]
    [InlineData("%PDF-1.7", "application/pdf")]
    [InlineData("hello", "text/plain; charset=iso-8859-1")]
    public Task UnknownContentType(string body, string contentType) =>
        AssertRejected(EnvelopeRejectionReason.UnknownContentType, Parse(body, contentType));

    [Fact]
    public async Task MessageTooLarge_over_the_configured_maximum()
    {
        var parser = Parser(o => o.MaxMessageBytes = 1024);

        Assert.True((await Parse(new string('a', 1024), "text/plain", parser: parser)).IsSuccess);
        await AssertRejected(EnvelopeRejectionReason.MessageTooLarge, Parse(new string('a', 1025), "text/plain", parser: parser));
    }

    [Fact]
    public void MessageTooLarge_default_is_the_service_bus_standard_limit() =>
        Assert.Equal(256 * 1024, new EnvelopeOptions().MaxMessageBytes);

    [Theory]
    [InlineData("relative/path.txt")]
    [InlineData("https://example.com/doc.txt")]
    [InlineData("file://fileserver/share/doc.txt")]
    public Task ClaimCheckUnreadable_for_unsupported_uris(string uri) =>
        AssertRejected(EnvelopeRejectionReason.ClaimCheckUnreadable, Parse($$"""{"id":"x","uri":"{{uri}}"}"""));

    [Fact]
    public Task ClaimCheckUnreadable_for_a_missing_file() =>
        AssertRejected(EnvelopeRejectionReason.ClaimCheckUnreadable, Parse($$"""{"id":"x","uri":"{{new Uri(_files.File("nope.txt")).AbsoluteUri}}"}"""));

    [Fact]
    public Task ClaimCheckUnreadable_for_a_directory() =>
        AssertRejected(EnvelopeRejectionReason.ClaimCheckUnreadable, Parse($$"""{"id":"x","uri":"{{new Uri(_files.Path).AbsoluteUri}}"}"""));

    [Fact]
    public async Task ClaimCheckUnreadable_outside_the_allowed_root_even_through_a_symlink()
    {
        var outside = _files.File("secret.txt");
        await File.WriteAllTextAsync(outside, "secret");
        var root = Directory.CreateDirectory(_files.File("allowed")).FullName;
        var inside = Path.Combine(root, "ok.txt");
        await File.WriteAllTextAsync(inside, "fine");
        var link = Path.Combine(root, "link.txt");
        File.CreateSymbolicLink(link, outside);
        var parser = Parser(o => o.ClaimCheckRoot = root);

        Assert.True((await Parse($$"""{"id":"x","uri":"{{new Uri(inside).AbsoluteUri}}"}""", parser: parser)).IsSuccess);
        await AssertRejected(EnvelopeRejectionReason.ClaimCheckUnreadable, Parse($$"""{"id":"x","uri":"{{new Uri(outside).AbsoluteUri}}"}""", parser: parser));
        await AssertRejected(EnvelopeRejectionReason.ClaimCheckUnreadable, Parse($$"""{"id":"x","uri":"{{new Uri(link).AbsoluteUri}}"}""", parser: parser));
    }

    [Fact]
    public async Task ClaimCheckTooLarge_over_the_configured_maximum()
    {
        var path = _files.File("big.txt");
        await File.WriteAllTextAsync(path, new string('x', 2048));
        var parser = Parser(o => o.MaxClaimCheckBytes = 2047);

        await AssertRejected(EnvelopeRejectionReason.ClaimCheckTooLarge, Parse($$"""{"id":"x","uri":"{{new Uri(path).AbsoluteUri}}"}""", parser: parser));
        Assert.Equal(16L * 1024 * 1024, new EnvelopeOptions().MaxClaimCheckBytes);
    }

    [Fact]
    public void Reason_codes_are_stable() =>
        Assert.Equal(
            ["EmptyBody", "InvalidUtf8", "BinaryBody", "MalformedJson", "MissingId", "MissingText", "TextAndUri", "UnknownContentType",
             "MessageTooLarge", "ClaimCheckUnreadable", "ClaimCheckTooLarge"],
            Enum.GetNames<EnvelopeRejectionReason>());
}
