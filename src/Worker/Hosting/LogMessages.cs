using Microsoft.Extensions.Logging;

namespace Triage.Worker.Hosting;

/// <summary>Every log message of the worker host and pipeline, with stable event ids (1000-1999).</summary>
internal static partial class LogMessages
{
    [LoggerMessage(1000, LogLevel.Information, "Model {ModelVersion} ({Method}) loaded from {Path} on {Device} with {Threads} libtorch threads")]
    public static partial void ModelLoaded(ILogger logger, string modelVersion, string method, string path, string device, int threads);

    [LoggerMessage(1001, LogLevel.Information, "Storage: {Storage}; migrations applied: {Applied}")]
    public static partial void StorageReady(ILogger logger, string storage, int applied);

    [LoggerMessage(1002, LogLevel.Information, "Worker started: queue {Queue}, batch budget {MaxBatchTokens} tokens, at most {MaxInFlight} messages in flight")]
    public static partial void WorkerStarted(ILogger logger, string queue, int maxBatchTokens, int maxInFlight);

    [LoggerMessage(1003, LogLevel.Information, "Queue drained: {Documents} documents processed, {DeadLettered} dead-lettered")]
    public static partial void Drained(ILogger logger, long documents, long deadLettered);

    [LoggerMessage(1004, LogLevel.Information, "Stopping: no new messages; settling {InFlight} in flight")]
    public static partial void Stopping(ILogger logger, int inFlight);

    [LoggerMessage(1005, LogLevel.Error, "The worker failed and stops")]
    public static partial void WorkerFailed(ILogger logger, Exception exception);

    [LoggerMessage(1010, LogLevel.Warning, "Message {MessageId} dead-lettered: {Reason}: {Description}")]
    public static partial void DeadLettered(ILogger logger, string messageId, string reason, string description);

    [LoggerMessage(1011, LogLevel.Error, "Model failed on a batch of {Count} documents; abandoning them for redelivery")]
    public static partial void BatchInferenceFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(1012, LogLevel.Warning, "Storing a batch failed (attempt {Attempt}); retrying in {Delay}")]
    public static partial void StoreRetry(ILogger logger, Exception exception, int attempt, TimeSpan delay);

    [LoggerMessage(1013, LogLevel.Error, "Storing a batch of {Count} documents failed; abandoning them and pausing receives for {Pause}")]
    public static partial void StoreFailed(ILogger logger, Exception exception, int count, TimeSpan pause);

    [LoggerMessage(1014, LogLevel.Warning, "Lock lost for message {MessageId} before it could be settled ({Operation}); it will be redelivered")]
    public static partial void LockLost(ILogger logger, string messageId, string operation);

    [LoggerMessage(1015, LogLevel.Warning, "Settling message {MessageId} ({Operation}) failed")]
    public static partial void SettleFailed(ILogger logger, Exception exception, string messageId, string operation);

    [LoggerMessage(1016, LogLevel.Warning, "Receiving from the queue failed; retrying")]
    public static partial void ReceiveFailed(ILogger logger, Exception exception);

    [LoggerMessage(1017, LogLevel.Warning, "Preparing message {MessageId} failed; abandoning it")]
    public static partial void PrepareFailed(ILogger logger, Exception exception, string messageId);

    [LoggerMessage(1018, LogLevel.Information, "The transport cannot renew locks; keep batches short compared with the lock duration")]
    public static partial void LockRenewalUnsupported(ILogger logger);

    [LoggerMessage(1019, LogLevel.Warning, "Renewing the lock of message {MessageId} failed")]
    public static partial void LockRenewalFailed(ILogger logger, Exception exception, string messageId);

    [LoggerMessage(1020, LogLevel.Debug, "Batch of {Count} documents: {PaddedTokens} padded tokens, fill {FillRatio:P0}, {Milliseconds} ms")]
    public static partial void BatchClassified(ILogger logger, int count, long paddedTokens, double fillRatio, long milliseconds);

    [LoggerMessage(1030, LogLevel.Warning, "Writing the health file {Path} failed")]
    public static partial void HealthFileFailed(ILogger logger, Exception exception, string path);
}
