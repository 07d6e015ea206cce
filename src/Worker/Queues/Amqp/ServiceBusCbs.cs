using System.Globalization;
using Amqp;
using Amqp.Framing;

namespace Triage.Worker.Queues.Amqp;

/// <summary>
/// Claims-based security: Service Bus accepts SASL ANONYMOUS and then wants a SAS token per entity, put to the
/// <c>$cbs</c> node before the entity's links attach, and again before it expires.
/// </summary>
internal static class ServiceBusCbs
{
    public const string Node = "$cbs";
    public const string TokenType = "servicebus.windows.net:sastoken";

    public static Message PutTokenRequest(string audience, string token) => new(token)
    {
        ApplicationProperties = new ApplicationProperties
        {
            ["operation"] = "put-token",
            ["type"] = TokenType,
            ["name"] = audience,
        },
    };

    /// <summary>Puts the token and checks the response's <c>status-code</c> (200 or 202).</summary>
    public static async Task PutTokenAsync(
        AmqpRequestResponseLink cbs, string audience, string token, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var response = await cbs.RequestAsync(PutTokenRequest(audience, token), timeout, cancellationToken).ConfigureAwait(false);
        var status = Convert.ToInt32(response.ApplicationProperties?["status-code"] ?? 0, CultureInfo.InvariantCulture);
        if (status is 200 or 202)
        {
            return;
        }

        var description = response.ApplicationProperties?["status-description"] as string ?? "no description";
        // Unauthorized is not transient: retrying with the same key only hides the misconfiguration.
        throw new AmqpException(new Error(ErrorCode.UnauthorizedAccess)
        {
            Description = $"Service Bus refused the SAS token for {audience}: {status} {description}",
        });
    }
}
