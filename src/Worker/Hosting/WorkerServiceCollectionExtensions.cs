using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using Triage.Storage;
using Triage.Worker.Messages;
using Triage.Worker.Metrics;
using Triage.Worker.Pipeline;
using Triage.Worker.Queues;
using Triage.Worker.Queues.Embedded;

namespace Triage.Worker.Hosting;

/// <summary>Dependency-injection wiring of the worker, one extension per concern.</summary>
internal static class WorkerServiceCollectionExtensions
{
    /// <summary>The queue worker: options, queue, storage, model, pipeline, metrics, health file, systemd.</summary>
    public static HostApplicationBuilder AddTriageWorker(this HostApplicationBuilder builder, bool drain, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddTriageQueue().AddTriageStorage();
        var services = builder.Services;
        services.AddSystemd();
        // Under systemd, AddSystemd switches the console to journald's format; an explicit choice (json for a log
        // collector) still wins.
        if (builder.Configuration["Logging:Console:FormatterName"] is { Length: > 0 } formatter)
        {
            services.Configure<ConsoleLoggerOptions>(o => o.FormatterName = formatter);
        }

        services.AddMetrics();
        services.TryAddSingleton<TriageMetrics>();
        services.TryAddSingleton<WorkerHealth>();
        services.TryAddSingleton<IBatchClassifierLoader, TriageBatchClassifierLoader>();
        services.TryAddSingleton<IClaimCheckReader, FileClaimCheckReader>();
        services.TryAddSingleton<EnvelopeParser>();
        services.TryAddSingleton<DocumentPipeline>();
        services.AddSingleton(new WorkerRunState(drain, output));
        services.AddHostedService<TriageWorkerService>();
        services.AddHostedService<HealthFileWriter>();
        services.AddOptions<HostOptions>().Configure<IOptions<WorkerOptions>>((host, worker) => host.ShutdownTimeout = worker.Value.ShutdownTimeout);
        return builder;
    }

    /// <summary>The configured transport (<c>Queue:Kind</c>) and, where it has one, its admin interface.</summary>
    public static HostApplicationBuilder AddTriageQueue(this HostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddTriageOptions();
        var kind = builder.Configuration[$"{QueueOptions.SectionName}:{nameof(QueueOptions.Kind)}"] ?? QueueOptions.Embedded;
        var services = builder.Services;
        if (string.Equals(kind, QueueOptions.Amqp, StringComparison.OrdinalIgnoreCase))
        {
            // Azure Service Bus or another AMQP 1.0 broker. It has no IQueueAdmin: counts come from the broker's own
            // tools, and --drain ends at the first empty receive.
            services.AddAmqpQueueTransport();
            return builder;
        }

        services.TryAddSingleton<IQueueTransport, EmbeddedQueueTransport>();
        services.TryAddSingleton<IQueueAdmin, EmbeddedQueueAdmin>();
        return builder;
    }

    /// <summary>The results repository for <c>Storage:*</c>.</summary>
    public static HostApplicationBuilder AddTriageStorage(this HostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddTriageOptions();
        builder.Services.TryAddSingleton(sp => ResultsRepositoryFactory.Create(
            sp.GetRequiredService<IOptions<StorageOptions>>().Value, sp.GetRequiredService<TimeProvider>()));
        return builder;
    }

    /// <summary>Disposes the host asynchronously (the queue and the repository are async-disposable only).</summary>
    public static async Task<T> UseAsync<T>(this IHost host, Func<IServiceProvider, Task<T>> body)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            return await body(host.Services).ConfigureAwait(false);
        }
        finally
        {
            if (host is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                host.Dispose();
            }
        }
    }
}
