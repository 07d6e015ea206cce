using Triage.Worker.Queues.Amqp;

namespace Triage.Worker.Tests.Queues.Amqp;

public sealed class AmqpEndpointTests
{
    private const string Key = "2hMp0Zc9Vv1s3Q4Kx8u6yYwT7fLrN5aBcDeFgHiJkLm=";

    [Fact]
    public void Service_bus_connection_string_gives_tls_on_5671_with_key_and_entity()
    {
        var endpoint = AmqpEndpoint.Parse(
            $"Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={Key};EntityPath=work");

        Assert.Equal(AmqpBrokerKind.ServiceBus, endpoint.Broker);
        Assert.Equal(("contoso.servicebus.windows.net", 5671, true), (endpoint.Host, endpoint.Port, endpoint.UseTls));
        Assert.Equal(("RootManageSharedAccessKey", Key, "work"), (endpoint.KeyName, endpoint.Key, endpoint.EntityPath));
        Assert.Equal("sb://contoso.servicebus.windows.net/work", endpoint.AudienceFor("work"));
    }

    [Fact]
    public void Keys_are_case_insensitive_spaces_are_trimmed_and_entity_path_is_optional()
    {
        var endpoint = AmqpEndpoint.Parse($" endpoint = sb://ns.servicebus.windows.net/ ; sharedaccesskeyname=send ; sharedaccesskey={Key} ; ");

        Assert.Equal(("ns.servicebus.windows.net", "send", Key), (endpoint.Host, endpoint.KeyName, endpoint.Key));
        Assert.Null(endpoint.EntityPath);
    }

    [Fact]
    public void Development_emulator_uses_plain_amqp_on_5672()
    {
        var endpoint = AmqpEndpoint.Parse("Endpoint=sb://localhost;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true");

        Assert.Equal(("localhost", 5672, false), (endpoint.Host, endpoint.Port, endpoint.UseTls));
    }

    [Theory]
    [InlineData("SharedAccessKeyName=k;SharedAccessKey=secret-value;EntityPath=q", "Endpoint")]
    [InlineData("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=secret-value", "SharedAccessKeyName")]
    [InlineData("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k", "SharedAccessKey")]
    [InlineData("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=", "SharedAccessKey")]
    public void A_missing_part_is_named_and_the_key_is_not_echoed(string connectionString, string missing)
    {
        var error = Assert.Throws<FormatException>(() => AmqpEndpoint.Parse(connectionString));

        Assert.Contains($"missing '{missing}'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-value", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(null)]
    public void An_empty_connection_string_says_what_is_expected(string? connectionString)
    {
        var error = Assert.Throws<FormatException>(() => AmqpEndpoint.Parse(connectionString));
        Assert.Contains("Endpoint=sb://", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Malformed_parts_fail_without_echoing_secrets()
    {
        var noEquals = Assert.Throws<FormatException>(() => AmqpEndpoint.Parse("Endpoint=sb://ns/;secret-value"));
        var badEndpoint = Assert.Throws<FormatException>(() => AmqpEndpoint.Parse("Endpoint=not a uri;SharedAccessKeyName=k;SharedAccessKey=secret-value"));
        var sas = Assert.Throws<FormatException>(() => AmqpEndpoint.Parse("Endpoint=sb://ns/;SharedAccessSignature=SharedAccessSignature sr=x&sig=secret-value"));

        Assert.All([noEquals, badEndpoint, sas], e => Assert.DoesNotContain("secret-value", e.Message, StringComparison.Ordinal));
        Assert.Contains("Endpoint", badEndpoint.Message, StringComparison.Ordinal);
        Assert.Contains("SharedAccessSignature", sas.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToString_never_shows_the_key_or_password()
    {
        var serviceBus = AmqpEndpoint.Parse($"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey={Key};EntityPath=q");
        var rabbit = AmqpEndpoint.Parse("amqp://triage:hunter2@127.0.0.1:5673");

        Assert.DoesNotContain(Key, serviceBus.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", rabbit.ToString(), StringComparison.Ordinal);
        Assert.Equal("amqp://triage:***@127.0.0.1:5673", rabbit.ToString());
    }

    [Fact]
    public void Amqp_uri_gives_sasl_plain_credentials_url_decoded()
    {
        var endpoint = AmqpEndpoint.Parse("amqp://tri%40ge:p%3Ass%2Fw0rd@broker.local:5673");

        Assert.Equal(AmqpBrokerKind.Generic, endpoint.Broker);
        Assert.Equal(("broker.local", 5673, false), (endpoint.Host, endpoint.Port, endpoint.UseTls));
        Assert.Equal(("tri@ge", "p:ss/w0rd"), (endpoint.UserName, endpoint.Password));
        Assert.Null(endpoint.EntityPath);
    }

    [Theory]
    [InlineData("amqp://u:p@host", 5672, false)]
    [InlineData("amqps://u:p@host", 5671, true)]
    [InlineData("AMQPS://u:p@host:6000", 6000, true)]
    public void Amqp_uri_default_ports(string uri, int port, bool tls)
    {
        var endpoint = AmqpEndpoint.Parse(uri);
        Assert.Equal((port, tls), (endpoint.Port, endpoint.UseTls));
    }

    [Fact]
    public void Amqp_uri_path_is_the_entity_and_no_user_means_anonymous()
    {
        var endpoint = AmqpEndpoint.Parse("amqp://host:5672/amq/queue/work");

        Assert.Equal("/amq/queue/work", endpoint.EntityPath);
        Assert.Null(endpoint.UserName);
    }

    [Fact]
    public void Amqp_uri_with_a_user_but_no_password_is_refused()
    {
        var error = Assert.Throws<FormatException>(() => AmqpEndpoint.Parse("amqp://triage@host:5672"));
        Assert.Contains("no password", error.Message, StringComparison.Ordinal);
    }
}
