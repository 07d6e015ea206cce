using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Triage.Worker.Queues;
using Triage.Worker.Queues.Amqp;
using Triage.Worker.Queues.Embedded;

namespace Triage.Worker.Tests.Queues;

/// <summary>The transports' options bind from the <c>Queue</c> section and bad values fail by name.</summary>
public sealed class QueueOptionsBindingTests
{
    private static ServiceProvider Build(Dictionary<string, string?> settings, Action<IServiceCollection> register)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        register(services);
        return services.BuildServiceProvider();
    }

    [Fact]
    public void Embedded_options_bind_from_Queue_Embedded_with_documented_defaults()
    {
        using var provider = Build(
            new() { ["Queue:Embedded:Path"] = "/var/lib/triage/queue.db", ["Queue:Embedded:MaxDeliveryCount"] = "5" },
            s => s.AddEmbeddedQueueTransport());

        var options = provider.GetRequiredService<IOptions<EmbeddedQueueOptions>>().Value;

        Assert.Equal(("/var/lib/triage/queue.db", 5), (options.Path, options.MaxDeliveryCount));
        Assert.Equal(TimeSpan.FromSeconds(60), options.LockDuration);
        Assert.Equal(TimeSpan.FromMinutes(10), options.DuplicateDetectionWindow);
    }

    [Fact]
    public void Amqp_options_bind_from_Queue_Amqp()
    {
        using var provider = Build(
            new()
            {
                ["Queue:Amqp:ConnectionString"] = "amqp://triage:secret@127.0.0.1:5672",
                ["Queue:Amqp:EntityPath"] = "/amq/queue/work",
                ["Queue:Amqp:DeadLetterAddress"] = "/amq/queue/work.dlq",
                ["Queue:Amqp:AbandonOutcome"] = "Released",
                ["Queue:Amqp:ReceiverSettleMode"] = "First",
                ["Queue:Amqp:OperationTimeout"] = "00:00:05",
            },
            s => s.AddAmqpQueueTransport());

        var options = provider.GetRequiredService<IOptions<AmqpQueueOptions>>().Value;

        Assert.Equal("/amq/queue/work", options.EntityPath);
        Assert.Equal((AbandonOutcome.Released, ReceiverSettleModeOption.First), (options.AbandonOutcome, options.ReceiverSettleMode));
        Assert.Equal(TimeSpan.FromSeconds(5), options.OperationTimeout);
        Assert.Equal(10, options.ReconnectMaxAttempts);
    }

    [Theory]
    [InlineData("Queue:Embedded:LockDuration", "00:00:00", nameof(EmbeddedQueueOptions.LockDuration))]
    [InlineData("Queue:Embedded:MaxDeliveryCount", "0", nameof(EmbeddedQueueOptions.MaxDeliveryCount))]
    [InlineData("Queue:Embedded:Path", "", nameof(EmbeddedQueueOptions.Path))]
    public void Bad_embedded_settings_fail_naming_the_option(string key, string value, string option)
    {
        using var provider = Build(new() { [key] = value }, s => s.AddEmbeddedQueueTransport());

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<EmbeddedQueueOptions>>().Value);
        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_amqp_connection_string_fails_naming_it()
    {
        using var provider = Build(new() { ["Queue:Amqp:EntityPath"] = "work" }, s => s.AddAmqpQueueTransport());

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<AmqpQueueOptions>>().Value);
        Assert.Contains(nameof(AmqpQueueOptions.ConnectionString), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_transports_resolve_as_IQueueTransport()
    {
        // The transports are async-disposable only, so the container must be disposed asynchronously.
        await using var embedded = Build(new() { ["Queue:Embedded:Path"] = Path.Combine(Path.GetTempPath(), $"triage-{Guid.NewGuid():N}.db") }, s => s.AddEmbeddedQueueTransport());
        await using var amqp = Build(new() { ["Queue:Amqp:ConnectionString"] = "amqp://u:p@127.0.0.1:1/amq/queue/work" }, s => s.AddAmqpQueueTransport());

        Assert.IsType<EmbeddedQueueTransport>(embedded.GetRequiredService<IQueueTransport>());
        Assert.IsType<EmbeddedQueueAdmin>(embedded.GetRequiredService<IQueueAdmin>());
        var transport = Assert.IsType<AmqpQueueTransport>(amqp.GetRequiredService<IQueueTransport>());
        Assert.Equal("/amq/queue/work", transport.EntityPath);
    }
}
