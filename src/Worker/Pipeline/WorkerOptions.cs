using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Triage.Worker.Pipeline;

/// <summary>The <c>Worker</c> section: concurrency, back-pressure, retries and shutdown of the queue worker.</summary>
internal sealed class WorkerOptions
{
    public const string SectionName = "Worker";

    public const int DefaultMaxConcurrentBatches = 2;
    public const int DefaultReceiveBatchSize = 32;
    public const int DefaultStoreRetries = 3;
    public static readonly TimeSpan DefaultReceiveWait = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan DefaultStoreRetryDelay = TimeSpan.FromMilliseconds(200);
    public static readonly TimeSpan DefaultStoreFailurePause = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan DefaultLockRenewalCheckInterval = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan DefaultShutdownTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Batches formed and waiting for (or in) inference at once. Default 2: one runs while the next fills.</summary>
    [Range(1, 64)]
    public int MaxConcurrentBatches { get; set; } = DefaultMaxConcurrentBatches;

    /// <summary>Most messages the worker holds locked at once (received, not yet settled). Default 0: enough for
    /// <see cref="MaxConcurrentBatches"/> + 1 full batches (Batching:MaxBatchDocuments each), so messages are not
    /// locked long before the model can get to them.</summary>
    [Range(0, 100_000)]
    public int MaxInFlightMessages { get; set; }

    /// <summary>Most messages asked for per receive call. Default 32.</summary>
    [Range(1, 1000)]
    public int ReceiveBatchSize { get; set; } = DefaultReceiveBatchSize;

    /// <summary>How long a receive waits for the first message. Default 1 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:05:00")]
    public TimeSpan ReceiveWait { get; set; } = DefaultReceiveWait;

    /// <summary>Retries of a failed transient database write before the batch is abandoned. Default 3.</summary>
    [Range(0, 20)]
    public int StoreRetries { get; set; } = DefaultStoreRetries;

    /// <summary>First retry delay; doubles with jitter. Default 200 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan StoreRetryDelay { get; set; } = DefaultStoreRetryDelay;

    /// <summary>After a batch could not be stored, receiving pauses this long, so an outage does not burn through
    /// every message's delivery count. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan StoreFailurePause { get; set; } = DefaultStoreFailurePause;

    /// <summary>Renew the locks of held messages halfway through their lock duration. Default true.</summary>
    public bool RenewLocks { get; set; } = true;

    /// <summary>How often held locks are checked for renewal. Default 1 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan LockRenewalCheckInterval { get; set; } = DefaultLockRenewalCheckInterval;

    /// <summary>The host's shutdown timeout: how long SIGTERM waits for the in-flight batch. Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan ShutdownTimeout { get; set; } = DefaultShutdownTimeout;

    public int EffectiveMaxInFlight(int maxBatchDocuments) =>
        MaxInFlightMessages > 0 ? MaxInFlightMessages : maxBatchDocuments * (MaxConcurrentBatches + 1);
}

[OptionsValidator]
internal sealed partial class WorkerOptionsValidator : IValidateOptions<WorkerOptions>;

/// <summary>The <c>Queue</c> section's transport choice (the transports' own settings are in sub-sections).</summary>
internal sealed class QueueOptions
{
    public const string SectionName = "Queue";
    public const string Embedded = "embedded";
    public const string Amqp = "amqp";

    /// <summary><c>embedded</c> (default: SQLite file in the data directory, <c>Queue:Embedded:*</c>) or
    /// <c>amqp</c> (Azure Service Bus or another AMQP 1.0 broker, <c>Queue:Amqp:*</c>).</summary>
    [Required]
    [RegularExpression("^(embedded|amqp)$", ErrorMessage = "Queue:Kind must be 'embedded' or 'amqp'.")]
    public string Kind { get; set; } = Embedded;
}

[OptionsValidator]
internal sealed partial class QueueOptionsValidator : IValidateOptions<QueueOptions>;

/// <summary>The <c>Health</c> section: the liveness file for Docker HEALTHCHECK / Kubernetes exec probes.</summary>
internal sealed class HealthOptions
{
    public const string SectionName = "Health";
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan DefaultMaxAge = TimeSpan.FromSeconds(30);

    /// <summary>File touched while the worker loop is healthy. Default <c>&lt;data-dir&gt;/health</c>.</summary>
    [Required]
    public string FilePath { get; set; } = "data/health";

    /// <summary>How often the file is touched. Default 10 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan Interval { get; set; } = DefaultInterval;

    /// <summary>Older than this, <c>triage health</c> reports unhealthy; the loop also counts as stalled when it has
    /// made no progress for this long. Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan MaxAge { get; set; } = DefaultMaxAge;
}

[OptionsValidator]
internal sealed partial class HealthOptionsValidator : IValidateOptions<HealthOptions>;
