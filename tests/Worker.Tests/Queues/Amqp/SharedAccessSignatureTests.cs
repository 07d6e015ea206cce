using System.Security.Cryptography;
using System.Text;
using Triage.Worker.Queues.Amqp;

namespace Triage.Worker.Tests.Queues.Amqp;

public sealed class SharedAccessSignatureTests
{
    private const string Audience = "sb://contoso.servicebus.windows.net/work";
    private const string Key = "2hMp0Zc9Vv1s3Q4Kx8u6yYwT7fLrN5aBcDeFgHiJkLm=";
    private static readonly DateTimeOffset Expiry = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

    [Fact]
    public void Matches_a_known_vector()
    {
        // Computed outside .NET (Python hmac/hashlib/urllib.parse.quote) for these inputs.
        Assert.Equal(
            "SharedAccessSignature sr=sb%3A%2F%2Fcontoso.servicebus.windows.net%2Fwork&sig=L73PISwTbJaXmasdeisSbo8zA60uj6ecwVeg2C1U800%3D&se=1700000000&skn=RootManageSharedAccessKey",
            SharedAccessSignature.Create(Audience, "RootManageSharedAccessKey", Key, Expiry));
    }

    [Fact]
    public void Signature_is_hmac_sha256_of_encoded_uri_newline_expiry_keyed_with_the_utf8_key()
    {
        var token = SharedAccessSignature.Create(Audience, "send-only", Key, Expiry + TimeSpan.FromMilliseconds(900));

        // Recomputed independently: HMACSHA256 over "<url-encoded uri>\n<expiry seconds>".
        var encodedUri = Uri.EscapeDataString(Audience);
        using var hmac = new HMACSHA256(Encoding.UTF8.GetBytes(Key));
        var expected = Convert.ToBase64String(hmac.ComputeHash(Encoding.UTF8.GetBytes(encodedUri + "\n1700000000")));

        var fields = Parse(token);
        Assert.Equal(encodedUri, fields["sr"]);
        Assert.Equal(expected, Uri.UnescapeDataString(fields["sig"]));
        Assert.Equal("1700000000", fields["se"]); // whole seconds, truncated
        Assert.Equal("send-only", fields["skn"]);
    }

    [Fact]
    public void Different_keys_or_expiries_give_different_signatures()
    {
        var a = Parse(SharedAccessSignature.Create(Audience, "k", Key, Expiry))["sig"];
        var b = Parse(SharedAccessSignature.Create(Audience, "k", Key + "x", Expiry))["sig"];
        var c = Parse(SharedAccessSignature.Create(Audience, "k", Key, Expiry.AddSeconds(1)))["sig"];

        Assert.Equal(3, new[] { a, b, c }.Distinct().Count());
    }

    private static Dictionary<string, string> Parse(string token)
    {
        const string Prefix = "SharedAccessSignature ";
        Assert.StartsWith(Prefix, token, StringComparison.Ordinal);
        return token[Prefix.Length..].Split('&').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
    }
}
