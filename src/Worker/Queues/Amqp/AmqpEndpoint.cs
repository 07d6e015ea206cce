using System.Globalization;
using System.Net;

namespace Triage.Worker.Queues.Amqp;

/// <summary>Which protocol dialect the peer speaks beyond plain AMQP 1.0.</summary>
internal enum AmqpBrokerKind
{
    /// <summary>Azure Service Bus: SASL ANONYMOUS, then a SAS token through <c>$cbs</c>; <c>$management</c> for
    /// lock renewal; Modified outcome for abandon.</summary>
    ServiceBus,

    /// <summary>A plain AMQP 1.0 broker (RabbitMQ with its AMQP 1.0 plugin, ActiveMQ Artemis, …): SASL PLAIN with
    /// user and password, locks that last as long as the link.</summary>
    Generic,
}

/// <summary>
/// Where and how to connect, parsed from <c>Queue:Amqp:ConnectionString</c>: a Service Bus connection string
/// (<c>Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…;EntityPath=…</c>) or an
/// <c>amqp[s]://user:pass@host:port</c> URI. Secrets never appear in <see cref="ToString"/> or in parse errors.
/// </summary>
internal sealed class AmqpEndpoint
{
    private const string ServiceBusFormat = "Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=<rule>;SharedAccessKey=<key>;EntityPath=<queue>";

    private AmqpEndpoint(AmqpBrokerKind broker, string host, int port, bool useTls)
    {
        Broker = broker;
        Host = host;
        Port = port;
        UseTls = useTls;
    }

    public AmqpBrokerKind Broker { get; }

    public string Host { get; }

    public int Port { get; }

    public bool UseTls { get; }

    /// <summary>Service Bus: the shared access policy name.</summary>
    public string? KeyName { get; private init; }

    /// <summary>Service Bus: the shared access key (used as UTF-8 bytes for the HMAC, as Service Bus does).</summary>
    public string? Key { get; private init; }

    /// <summary>Generic broker: SASL PLAIN credentials; null for an anonymous connection.</summary>
    public string? UserName { get; private init; }

    public string? Password { get; private init; }

    /// <summary>The queue named by the connection string (<c>EntityPath</c>), if any.</summary>
    public string? EntityPath { get; private init; }

    /// <summary>The token audience for an entity: <c>sb://host/entity</c>.</summary>
    public string AudienceFor(string entityPath) => $"sb://{Host}/{entityPath.TrimStart('/')}";

    public static AmqpEndpoint Parse(string? connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new FormatException("The AMQP connection string is empty. Expected " + ServiceBusFormat + " or amqp://user:password@host:port.");
        }

        var trimmed = connectionString.Trim();
        return trimmed.StartsWith("amqp://", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("amqps://", StringComparison.OrdinalIgnoreCase)
            ? ParseUri(trimmed)
            : ParseServiceBus(trimmed);
    }

    public override string ToString() => Broker == AmqpBrokerKind.ServiceBus
        ? $"Endpoint=sb://{Host}/;SharedAccessKeyName={KeyName};SharedAccessKey=***{(EntityPath is null ? "" : ";EntityPath=" + EntityPath)}"
        : $"{(UseTls ? "amqps" : "amqp")}://{(UserName is null ? "" : UserName + ":***@")}{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";

    private static AmqpEndpoint ParseUri(string text)
    {
        // Never echo the text: it holds the password.
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new FormatException("The AMQP connection string is not a valid amqp://user:password@host:port URI.");
        }

        var useTls = uri.Scheme.Equals("amqps", StringComparison.OrdinalIgnoreCase);
        var port = uri.IsDefaultPort || uri.Port <= 0 ? (useTls ? 5671 : 5672) : uri.Port;
        string? user = null;
        string? password = null;
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var parts = uri.UserInfo.Split(':', 2);
            user = WebUtility.UrlDecode(parts[0]);
            password = parts.Length > 1 ? WebUtility.UrlDecode(parts[1]) : throw new FormatException(
                "The AMQP connection string names a user but no password (amqp://user:password@host:port).");
        }

        var path = uri.AbsolutePath.Trim('/');
        return new AmqpEndpoint(AmqpBrokerKind.Generic, uri.Host, port, useTls)
        {
            UserName = user,
            Password = password,
            EntityPath = path.Length == 0 ? null : "/" + Uri.UnescapeDataString(path),
        };
    }

    private static AmqpEndpoint ParseServiceBus(string text)
    {
        var parts = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var segment in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = segment.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new FormatException($"The Service Bus connection string has a part without '=' (expected {ServiceBusFormat}).");
            }

            // Keys keep their trailing '=' padding: split on the first '=' only.
            parts[segment[..equals].Trim()] = segment[(equals + 1)..].Trim();
        }

        if (parts.ContainsKey("SharedAccessSignature"))
        {
            throw new FormatException("Service Bus connection strings with a SharedAccessSignature are not supported; use SharedAccessKeyName and SharedAccessKey.");
        }

        var endpointText = Required(parts, "Endpoint");
        if (!Uri.TryCreate(endpointText, UriKind.Absolute, out var endpoint) || string.IsNullOrEmpty(endpoint.Host))
        {
            throw new FormatException($"The Service Bus connection string's Endpoint is not a URI like sb://<namespace>.servicebus.windows.net/ (expected {ServiceBusFormat}).");
        }

        var keyName = Required(parts, "SharedAccessKeyName");
        var key = Required(parts, "SharedAccessKey");
        var emulator = parts.TryGetValue("UseDevelopmentEmulator", out var flag) && bool.TryParse(flag, out var on) && on;
        // The local emulator listens without TLS on 5672; the cloud service only with TLS on 5671.
        var port = endpoint.IsDefaultPort || endpoint.Port <= 0 ? (emulator ? 5672 : 5671) : endpoint.Port;
        return new AmqpEndpoint(AmqpBrokerKind.ServiceBus, endpoint.Host, port, useTls: !emulator)
        {
            KeyName = keyName,
            Key = key,
            EntityPath = parts.TryGetValue("EntityPath", out var entity) && entity.Length > 0 ? entity : null,
        };
    }

    private static string Required(Dictionary<string, string> parts, string name) =>
        parts.TryGetValue(name, out var value) && value.Length > 0
            ? value
            : throw new FormatException($"The Service Bus connection string is missing '{name}' (expected {ServiceBusFormat}).");
}
