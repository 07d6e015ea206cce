using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Triage.Worker.Queues.Amqp;

/// <summary>Service Bus SAS tokens: HMAC-SHA256 over <c>url-encoded-audience + "\n" + expiry</c>, keyed with the
/// UTF-8 bytes of the shared access key, formatted as the Azure SDK does.</summary>
internal static class SharedAccessSignature
{
    /// <summary>Creates <c>SharedAccessSignature sr=…&amp;sig=…&amp;se=…&amp;skn=…</c>.</summary>
    /// <param name="audience">The resource URI, e.g. <c>sb://ns.servicebus.windows.net/queue</c>.</param>
    /// <param name="expiresAt">Truncated to whole Unix seconds.</param>
    public static string Create(string audience, string keyName, string key, DateTimeOffset expiresAt)
    {
        ArgumentException.ThrowIfNullOrEmpty(audience);
        ArgumentException.ThrowIfNullOrEmpty(keyName);
        ArgumentException.ThrowIfNullOrEmpty(key);
        var encodedAudience = WebUtility.UrlEncode(audience);
        var expiry = expiresAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var signature = Sign(key, encodedAudience + "\n" + expiry);
        return string.Create(
            CultureInfo.InvariantCulture,
            $"SharedAccessSignature sr={encodedAudience}&sig={WebUtility.UrlEncode(signature)}&se={WebUtility.UrlEncode(expiry)}&skn={WebUtility.UrlEncode(keyName)}");
    }

    /// <summary>Base64 HMAC-SHA256 of <paramref name="stringToSign"/>.</summary>
    public static string Sign(string key, string stringToSign) =>
        Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(stringToSign)));
}
