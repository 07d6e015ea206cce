using System.Net.Sockets;
using Amqp;
using Amqp.Framing;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Triage.Worker.Queues.Amqp;

/// <summary>Which failures are worth a reconnect, and the backoff between attempts.</summary>
internal static class AmqpRetry
{
    // Conditions that a new connection will not fix: retrying them would only delay the operator's diagnosis.
    private static readonly HashSet<string> Permanent = new(StringComparer.Ordinal)
    {
        ErrorCode.UnauthorizedAccess,
        ErrorCode.NotFound,
        ErrorCode.NotImplemented,
        ErrorCode.NotAllowed,
        ErrorCode.InvalidField,
        ErrorCode.DecodeError,
        ErrorCode.PreconditionFailed,
        ErrorCode.MessageSizeExceeded,
        "com.microsoft:argument-error",
        "com.microsoft:argument-out-of-range",
        "com.microsoft:entity-disabled",
        "com.microsoft:message-lock-lost",
    };

    public static bool IsTransient(Exception exception) => exception switch
    {
        MessageLockLostException => false,
        AmqpException amqp => amqp.Error?.Condition is not { } condition || !Permanent.Contains(condition.ToString()),
        SocketException or IOException or TimeoutException or ObjectDisposedException => true,
        _ => false,
    };

    /// <summary>Exponential backoff with jitter; the last failure reaches the caller after the configured number
    /// of retries.</summary>
    /// <param name="stopped">True once the transport is disposed: nothing is retried after that.</param>
    public static ResiliencePipeline Create(AmqpQueueOptions options, ILogger logger, Func<bool> stopped)
    {
        if (options.ReconnectMaxAttempts == 0)
        {
            return ResiliencePipeline.Empty;
        }

        return new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(exception => !stopped() && IsTransient(exception)),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.ReconnectDelay,
                MaxDelay = options.ReconnectMaxDelay,
                MaxRetryAttempts = options.ReconnectMaxAttempts,
                OnRetry = args =>
                {
                    QueueLog.AmqpReconnectRetry(logger, args.Outcome.Exception!, args.AttemptNumber + 1, args.RetryDelay);
                    return default;
                },
            })
            .Build();
    }

    public static string Describe(Error? error) => error is null ? "closed" : $"{error.Condition}: {error.Description}";
}
