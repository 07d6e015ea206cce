using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Triage.Worker.Queues.Amqp;

/// <summary>How an abandoned message is handed back to the broker.</summary>
internal enum AbandonOutcome
{
    /// <summary>Modified for Service Bus, Released for other brokers.</summary>
    Auto,

    /// <summary><c>modified</c> with <c>delivery-failed</c>: the broker counts a delivery (Service Bus).</summary>
    Modified,

    /// <summary><c>released</c>: RabbitMQ 3.10 drops the link on Modified, and its quorum queues count a release
    /// as a delivery attempt anyway.</summary>
    Released,
}

/// <summary>The receiver-settle-mode a receiver link asks for.</summary>
internal enum ReceiverSettleModeOption
{
    /// <summary>Second for Service Bus (its peek-lock mode), First for other brokers.</summary>
    Auto,

    /// <summary><c>first</c>: RabbitMQ 3.10 refuses anything else ("rcv-settle-mode second not supported").</summary>
    First,

    /// <summary><c>second</c>: what Service Bus expects for peek-lock receivers.</summary>
    Second,
}

/// <summary>Settings of the AMQP 1.0 transport, bound from configuration section <c>Queue:Amqp</c>.</summary>
/// <remarks>RabbitMQ users: declare a <b>quorum</b> queue with <c>x-delivery-limit</c> and a dead-letter exchange
/// (e.g. routed to <c>work.dlq</c>); classic queues redeliver a released message forever and ignore Rejected's
/// dead-letter intent. Address pre-declared queues as <c>/amq/queue/&lt;name&gt;</c>.</remarks>
internal sealed class AmqpQueueOptions
{
    public const string SectionName = "Queue:Amqp";

    public static readonly TimeSpan DefaultOperationTimeout = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DefaultTokenLifetime = TimeSpan.FromHours(1);
    public static readonly TimeSpan DefaultBatchLinger = TimeSpan.FromMilliseconds(20);
    public static readonly TimeSpan DefaultReconnectDelay = TimeSpan.FromMilliseconds(500);
    public static readonly TimeSpan DefaultReconnectMaxDelay = TimeSpan.FromSeconds(30);
    public const int DefaultReconnectMaxAttempts = 10;

    /// <summary>Service Bus connection string or <c>amqp[s]://user:password@host:port</c>. Required. Keep it in a
    /// secret store; it is never logged.</summary>
    [Required]
    public string ConnectionString { get; set; } = string.Empty;

    /// <summary>The queue address. Default: the connection string's <c>EntityPath</c> (Service Bus) or its URI path.
    /// RabbitMQ: <c>/amq/queue/work</c>.</summary>
    public string? EntityPath { get; set; }

    /// <summary>Where dead letters can be read. Default for Service Bus <c>&lt;entity&gt;/$DeadLetterQueue</c>; no
    /// default for other brokers (RabbitMQ routes rejected messages through the queue's dead-letter exchange, e.g. to
    /// <c>/amq/queue/work.dlq</c>).</summary>
    public string? DeadLetterAddress { get; set; }

    /// <summary>Outcome sent by <c>AbandonAsync</c>. Default <see cref="AbandonOutcome.Auto"/>.</summary>
    public AbandonOutcome AbandonOutcome { get; set; } = AbandonOutcome.Auto;

    /// <summary>Receiver-settle-mode of the receiver link. Default <see cref="ReceiverSettleModeOption.Auto"/>.</summary>
    public ReceiverSettleModeOption ReceiverSettleMode { get; set; } = ReceiverSettleModeOption.Auto;

    /// <summary>Timeout for one send, token put or management request. Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan OperationTimeout { get; set; } = DefaultOperationTimeout;

    /// <summary>Lifetime of each Service Bus SAS token; it is renewed on the open connection when 80 % has passed.
    /// Default 1 h.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "1.00:00:00")]
    public TimeSpan TokenLifetime { get; set; } = DefaultTokenLifetime;

    /// <summary>After the first message of a receive arrives, how long to wait for more before returning a partial
    /// batch. Default 20 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:00:10")]
    public TimeSpan BatchLinger { get; set; } = DefaultBatchLinger;

    /// <summary>First delay before reconnecting; doubles per attempt with jitter. Default 500 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan ReconnectDelay { get; set; } = DefaultReconnectDelay;

    /// <summary>Longest delay between reconnect attempts. Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan ReconnectMaxDelay { get; set; } = DefaultReconnectMaxDelay;

    /// <summary>Retries of one operation before its error reaches the caller. Default 10 (about 2.5 min with the
    /// default delays); the worker's loop then starts over.</summary>
    [Range(0, 1000)]
    public int ReconnectMaxAttempts { get; set; } = DefaultReconnectMaxAttempts;
}

[OptionsValidator]
internal sealed partial class AmqpQueueOptionsValidator : IValidateOptions<AmqpQueueOptions>;
