using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Triage.Storage;
using Triage.Worker.Batching;
using Triage.Worker.Messages;
using Triage.Worker.Pipeline;
using Triage.Worker.Queues.Embedded;

namespace Triage.Worker.Hosting;

/// <summary>Binds and validates every options section; a bad value stops start-up with the option named.</summary>
internal static class OptionsServiceCollectionExtensions
{
    public static HostApplicationBuilder AddTriageOptions(this HostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddTriageOptions();
        return builder;
    }

    public static IServiceCollection AddTriageOptions(this IServiceCollection services)
    {
        services.TryAddValidated<ModelOptions, ModelOptionsValidator>(ModelOptions.SectionName);
        services.TryAddValidated<BatchingOptions, BatchingOptionsValidator>(BatchingOptions.SectionName);
        services.TryAddValidated<WorkerOptions, WorkerOptionsValidator>(WorkerOptions.SectionName);
        services.TryAddValidated<QueueOptions, QueueOptionsValidator>(QueueOptions.SectionName);
        services.TryAddValidated<EmbeddedQueueOptions, EmbeddedQueueOptionsValidator>(EmbeddedQueueOptions.SectionName);
        services.TryAddValidated<EnvelopeOptions, EnvelopeOptionsValidator>(EnvelopeOptions.SectionName);
        services.TryAddValidated<HealthOptions, HealthOptionsValidator>(HealthOptions.SectionName);
        if (!services.Any(d => d.ServiceType == typeof(IConfigureOptions<StorageOptions>)))
        {
            // StorageOptions validates itself (IValidatableObject) with messages that name the option.
            services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        }

        services.TryAddSingletonTimeProvider();
        return services;
    }

    private static void TryAddValidated<TOptions, TValidator>(this IServiceCollection services, string section)
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>
    {
        if (services.Any(d => d.ServiceType == typeof(IValidateOptions<TOptions>) && d.ImplementationType == typeof(TValidator)))
        {
            return;
        }

        services.AddOptions<TOptions>().BindConfiguration(section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TOptions>, TValidator>();
    }

    private static void TryAddSingletonTimeProvider(this IServiceCollection services)
    {
        if (!services.Any(d => d.ServiceType == typeof(TimeProvider)))
        {
            services.AddSingleton(TimeProvider.System);
        }
    }
}
