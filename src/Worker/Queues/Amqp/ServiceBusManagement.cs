using System.Globalization;
using Amqp;
using Amqp.Framing;
using Amqp.Types;

namespace Triage.Worker.Queues.Amqp;

/// <summary>The Service Bus <c>$management</c> operations the worker needs (lock renewal), as documented in
/// "AMQP 1.0 in Azure Service Bus: request-response-based operations".</summary>
internal static class ServiceBusManagement
{
    public const string NodeSuffix = "/$management";
    public const string RenewLockOperation = "com.microsoft:renew-lock";
    public const string LockLostCondition = "com.microsoft:message-lock-lost";

    public static Message RenewLockRequest(Guid lockToken, string? associatedLinkName, TimeSpan serverTimeout)
    {
        var properties = new ApplicationProperties
        {
            ["operation"] = RenewLockOperation,
            ["com.microsoft:server-timeout"] = (uint)serverTimeout.TotalMilliseconds,
        };
        if (associatedLinkName is not null)
        {
            // Lets the service route the renewal to the link that holds the lock.
            properties["associated-link-name"] = associatedLinkName;
        }

        return new Message(new Map { ["lock-tokens"] = new[] { lockToken } }) { ApplicationProperties = properties };
    }

    /// <summary>Renews one lock and returns its new expiry.</summary>
    public static async Task<DateTimeOffset> RenewLockAsync(
        AmqpRequestResponseLink management, Guid lockToken, string? associatedLinkName, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var response = await management.RequestAsync(RenewLockRequest(lockToken, associatedLinkName, timeout), timeout, cancellationToken)
            .ConfigureAwait(false);
        var status = Convert.ToInt32(response.ApplicationProperties?["statusCode"] ?? 0, CultureInfo.InvariantCulture);
        var condition = Convert.ToString(response.ApplicationProperties?["errorCondition"], CultureInfo.InvariantCulture);
        var description = response.ApplicationProperties?["statusDescription"] as string;
        if (status == 410 || condition == LockLostCondition)
        {
            throw new MessageLockLostException($"Service Bus reports the lock {lockToken} lost: {description}");
        }

        if (status != 200)
        {
            throw new AmqpException(new Error(new Symbol(condition ?? ErrorCode.InternalError))
            {
                Description = $"renew-lock failed with status {status}: {description}",
            });
        }

        if (response.Body is Map body && body["expirations"] is DateTime[] { Length: > 0 } expirations)
        {
            return new DateTimeOffset(DateTime.SpecifyKind(expirations[0], DateTimeKind.Utc));
        }

        throw new AmqpException(new Error(ErrorCode.DecodeError) { Description = "renew-lock response has no 'expirations'." });
    }
}
