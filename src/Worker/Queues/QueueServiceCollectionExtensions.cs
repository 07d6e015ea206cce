using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Triage.Worker.Queues.Amqp;
using Triage.Worker.Queues.Embedded;

namespace Triage.Worker.Queues;

/// <summary>Registrations for the two transports, for the host's wiring to call according to <c>Queue:Kind</c>.</summary>
internal static class QueueServiceCollectionExtensions
{
    /// <summary>The embedded SQLite queue (<c>Queue:Embedded</c>) as <see cref="IQueueTransport"/> and
    /// <see cref="IQueueAdmin"/>.</summary>
    public static IServiceCollection AddEmbeddedQueueTransport(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<EmbeddedQueueOptions>().BindConfiguration(EmbeddedQueueOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<EmbeddedQueueOptions>, EmbeddedQueueOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IQueueTransport, EmbeddedQueueTransport>();
        services.TryAddSingleton<IQueueAdmin, EmbeddedQueueAdmin>();
        return services;
    }

    /// <summary>Azure Service Bus or another AMQP 1.0 broker (<c>Queue:Amqp</c>) as <see cref="IQueueTransport"/>.
    /// There is no <see cref="IQueueAdmin"/> for it: the broker's own tools (Azure portal, rabbitmqctl) show counts.</summary>
    public static IServiceCollection AddAmqpQueueTransport(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<AmqpQueueOptions>().BindConfiguration(AmqpQueueOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AmqpQueueOptions>, AmqpQueueOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IQueueTransport, AmqpQueueTransport>();
        return services;
    }
}
