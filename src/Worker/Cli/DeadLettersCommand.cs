using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Triage.Worker.Hosting;
using Triage.Worker.Queues;

namespace Triage.Worker.Cli;

/// <summary><c>triage dead-letters [--json] [--requeue]</c>: list dead letters with reasons, or move them back.</summary>
internal static class DeadLettersCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static Command Create(CliGlobals globals)
    {
        var json = new Option<bool>("--json") { Description = "One JSON object per dead letter" };
        var requeue = new Option<bool>("--requeue") { Description = "Move every dead letter back to the queue with a fresh delivery count" };
        var limit = new Option<int>("--limit") { Description = "Most dead letters listed", DefaultValueFactory = _ => 1000 };
        var command = new Command("dead-letters", "List dead-lettered messages with their reasons, or requeue them") { json, requeue, limit };
        command.SetAction((parseResult, cancellationToken) => CliRunner.RunAsync(parseResult, output =>
        {
            var builder = TriageHost.CreateBuilder(parseResult, globals, quiet: true).AddTriageQueue();
            return builder.Build().UseAsync(async services =>
            {
                var admin = services.GetRequiredService<IQueueAdmin>();
                if (parseResult.GetValue(requeue))
                {
                    var moved = await admin.RequeueDeadLettersAsync(null, cancellationToken).ConfigureAwait(false);
                    await output.WriteLineAsync($"Requeued {moved} message(s)").ConfigureAwait(false);
                    return CliRunner.Ok;
                }

                var letters = await admin.ListDeadLettersAsync(parseResult.GetValue(limit), cancellationToken).ConfigureAwait(false);
                foreach (var letter in letters)
                {
                    var line = parseResult.GetValue(json)
                        ? JsonSerializer.Serialize(new DeadLetterLine(letter.MessageId, letter.Reason, letter.Description, letter.DeliveryCount, letter.EnqueuedTime, letter.DeadLetteredTime, letter.ContentType, letter.Body.Length), Json)
                        : string.Create(CultureInfo.InvariantCulture, $"{letter.MessageId}\t{letter.Reason}\t{letter.Description}\t(deliveries {letter.DeliveryCount}, {letter.DeadLetteredTime:u})");
                    await output.WriteLineAsync(line).ConfigureAwait(false);
                }

                return CliRunner.Ok;
            });
        }));
        return command;
    }

    private sealed record DeadLetterLine(
        string MessageId, string Reason, string Description, int DeliveryCount, DateTimeOffset EnqueuedTime, DateTimeOffset DeadLetteredTime, string? ContentType, int BodyBytes);
}
