using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Triage.Worker.Queues.Embedded;

/// <summary>Settings of the embedded SQLite queue, bound from configuration section <c>Queue:Embedded</c>.
/// Defaults follow Azure Service Bus where it has one.</summary>
internal sealed class EmbeddedQueueOptions
{
    public const string SectionName = "Queue:Embedded";

    public const string DefaultPath = "data/queue.db";
    public const int DefaultMaxDeliveryCount = 10;
    public static readonly TimeSpan DefaultLockDuration = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan DefaultDuplicateDetectionWindow = TimeSpan.FromMinutes(10);
    public static readonly TimeSpan DefaultBusyTimeout = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DefaultPollInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>The SQLite file (created with its directory if missing). Default <c>data/queue.db</c>.</summary>
    [Required]
    public string Path { get; set; } = DefaultPath;

    /// <summary>How long a received message stays locked. Default 60 s (Service Bus default; its maximum is 5 min).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan LockDuration { get; set; } = DefaultLockDuration;

    /// <summary>Deliveries before a message is dead-lettered with <c>MaxDeliveryCountExceeded</c>. Default 10.</summary>
    [Range(1, 10_000)]
    public int MaxDeliveryCount { get; set; } = DefaultMaxDeliveryCount;

    /// <summary>A second send of a MessageId inside this window is dropped. Default 10 min; zero turns
    /// de-duplication off.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "7.00:00:00")]
    public TimeSpan DuplicateDetectionWindow { get; set; } = DefaultDuplicateDetectionWindow;

    /// <summary>How long a statement waits for another process's write lock. Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan BusyTimeout { get; set; } = DefaultBusyTimeout;

    /// <summary>How often a waiting receive looks for messages sent by other processes. Default 250 ms
    /// (sends from the same process wake receivers at once).</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan PollInterval { get; set; } = DefaultPollInterval;
}

[OptionsValidator]
internal sealed partial class EmbeddedQueueOptionsValidator : IValidateOptions<EmbeddedQueueOptions>;
