using Microsoft.Extensions.Logging;

namespace Triage.Worker.Queues;

/// <summary>Every log message of the queue transports, with stable event ids (3000-3099).</summary>
internal static partial class QueueLog
{
    [LoggerMessage(3000, LogLevel.Information, "Embedded queue opened at {Path}")]
    public static partial void EmbeddedOpened(ILogger logger, string path);

    [LoggerMessage(3001, LogLevel.Debug, "Dropped duplicate message {MessageId} (inside the de-duplication window)")]
    public static partial void DuplicateDropped(ILogger logger, string messageId);

    [LoggerMessage(3002, LogLevel.Warning, "Dead-lettered {Count} message(s) whose locks expired at the maximum delivery count")]
    public static partial void ExpiredToDeadLetter(ILogger logger, int count);

    [LoggerMessage(3003, LogLevel.Warning, "Message {MessageId} dead-lettered: {Reason}")]
    public static partial void DeadLettered(ILogger logger, string messageId, string reason);

    [LoggerMessage(3010, LogLevel.Information, "AMQP connection to {Host}:{Port} ({Broker}) open, entity {Entity}")]
    public static partial void AmqpConnected(ILogger logger, string host, int port, string broker, string entity);

    [LoggerMessage(3011, LogLevel.Warning, "AMQP connection to {Host}:{Port} lost: {Error}")]
    public static partial void AmqpConnectionLost(ILogger logger, string host, int port, string? error);

    [LoggerMessage(3012, LogLevel.Warning, "AMQP connect attempt {Attempt} failed; retrying in {Delay}")]
    public static partial void AmqpReconnectRetry(ILogger logger, Exception exception, int attempt, TimeSpan delay);

    [LoggerMessage(3013, LogLevel.Debug, "CBS token put for {Audience}, expires {Expiry}")]
    public static partial void CbsTokenPut(ILogger logger, string audience, DateTimeOffset expiry);

    [LoggerMessage(3014, LogLevel.Warning, "AMQP operation {Operation} failed on a broken link; reconnecting")]
    public static partial void AmqpOperationFailed(ILogger logger, Exception exception, string operation);
}
