using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Triage.Storage;
using Triage.Worker.Hosting;
using Triage.Worker.Queues;
using Triage.Worker.Queues.Embedded;

namespace Triage.Worker.Tests.Support;

/// <summary>The worker host exactly as <c>triage run</c> builds it, with a scratch data directory and the test model.</summary>
internal static class WorkerHost
{
    public static Dictionary<string, string?> Settings(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Model:Path"] = TestModel.SharedPath,
            ["Model:Threads"] = "1",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Worker:ReceiveWait"] = "00:00:00.100",
            ["Worker:StoreFailurePause"] = "00:00:00.050",
            ["Worker:StoreRetryDelay"] = "00:00:00.010",
            ["Queue:Embedded:PollInterval"] = "00:00:00.020",
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    public static HostApplicationBuilder CreateBuilder(string dataDir, IReadOnlyDictionary<string, string?> settings) =>
        TriageHost.CreateBuilder(dataDir, settings, quiet: false);

    public static IHost Build(string dataDir, IReadOnlyDictionary<string, string?> settings, TextWriter output, bool drain = true, Action<IServiceCollection>? configure = null)
    {
        var builder = CreateBuilder(dataDir, settings);
        configure?.Invoke(builder.Services);
        builder.AddTriageWorker(drain, output);
        return builder.Build();
    }

    /// <summary>Sends messages straight to the embedded queue file of <paramref name="dataDir"/>.</summary>
    public static async Task SendAsync(string dataDir, params OutgoingMessage[] messages)
    {
        var transport = new EmbeddedQueueTransport(Options.Create(new EmbeddedQueueOptions { Path = Path.Combine(dataDir, "queue.db") }), TimeProvider.System);
        await using (transport)
        {
            foreach (var message in messages)
            {
                await transport.SendAsync(message, CancellationToken.None);
            }
        }
    }

    public static async Task<QueueCounts> CountsAsync(string dataDir)
    {
        using var admin = new EmbeddedQueueAdmin(Options.Create(new EmbeddedQueueOptions { Path = Path.Combine(dataDir, "queue.db") }), TimeProvider.System);
        return await admin.GetCountsAsync(CancellationToken.None);
    }

    public static async Task<IReadOnlyList<DeadLetteredMessage>> DeadLettersAsync(string dataDir)
    {
        using var admin = new EmbeddedQueueAdmin(Options.Create(new EmbeddedQueueOptions { Path = Path.Combine(dataDir, "queue.db") }), TimeProvider.System);
        return await admin.ListDeadLettersAsync(1000, CancellationToken.None);
    }

    public static IResultsRepository OpenResults(string dataDir) =>
        ResultsRepositoryFactory.Create(new StorageOptions { ConnectionString = "Data Source=" + Path.Combine(dataDir, "triage.db") });
}
