using System.CommandLine;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Triage.Worker.Hosting;
using Triage.Worker.Messages;
using Triage.Worker.Queues;

namespace Triage.Worker.Cli;

/// <summary>
/// <c>triage enqueue FILE|DIR|- … [--raw]</c>. Each file becomes the envelope
/// <c>{ "id": file name without extension, "text", "contentType" }</c> (a file over the message limit becomes a
/// <c>file://</c> claim check instead); <c>-</c> reads JSON Lines envelopes from stdin, one message per line, with
/// the line's <c>id</c> as MessageId. <c>--raw</c> sends each file's bytes unchanged with no content type (to replay
/// dead letters, or to test what the worker does with bad input).
/// </summary>
internal static class EnqueueCommand
{
    public static Command Create(CliGlobals globals)
    {
        var inputs = new Argument<string[]>("inputs") { Description = "Files, directories (their files) or - for JSON Lines on stdin", Arity = ArgumentArity.OneOrMore };
        var raw = new Option<bool>("--raw") { Description = "Send the file bytes as the message body unchanged" };
        var command = new Command("enqueue", "Put documents on the queue") { inputs, raw };
        command.SetAction((parseResult, cancellationToken) => CliRunner.RunAsync(parseResult, output =>
        {
            var builder = TriageHost.CreateBuilder(parseResult, globals, quiet: true).AddTriageQueue();
            return builder.Build().UseAsync(async services =>
            {
                var transport = services.GetRequiredService<IQueueTransport>();
                var envelope = services.GetRequiredService<IOptions<EnvelopeOptions>>().Value;
                var messages = Messages(parseResult.GetRequiredValue(inputs), parseResult.GetValue(raw), envelope.MaxMessageBytes, Console.In);
                var count = 0;
                foreach (var message in messages)
                {
                    await transport.SendAsync(message, cancellationToken).ConfigureAwait(false);
                    count++;
                }

                await output.WriteLineAsync($"Enqueued {count} message(s)").ConfigureAwait(false);
                return CliRunner.Ok;
            });
        }));
        return command;
    }

    internal static IEnumerable<OutgoingMessage> Messages(IEnumerable<string> inputs, bool raw, int maxMessageBytes, TextReader stdin)
    {
        foreach (var input in inputs)
        {
            if (input == "-")
            {
                foreach (var message in FromJsonLines(stdin))
                {
                    yield return message;
                }

                continue;
            }

            foreach (var file in ClassifyCommand.Expand([input]))
            {
                yield return raw ? Raw(file) : Wrap(file, maxMessageBytes);
            }
        }
    }

    internal static OutgoingMessage Raw(string file) => new(ClassifyCommand.DocumentId(file), File.ReadAllBytes(file));

    internal static OutgoingMessage Wrap(string file, int maxMessageBytes)
    {
        var id = ClassifyCommand.DocumentId(file);
        var contentType = Path.GetExtension(file).ToLowerInvariant() switch
        {
            ".md" or ".markdown" => DocumentContentTypes.Markdown,
            ".html" or ".htm" => DocumentContentTypes.Html,
            _ => DocumentContentTypes.PlainText,
        };
        string text;
        try
        {
            text = File.ReadAllText(file, new UTF8Encoding(false, throwOnInvalidBytes: true));
        }
        catch (DecoderFallbackException exception)
        {
            throw new InvalidOperationException($"{file} is not valid UTF-8; send it with --raw to enqueue the bytes as they are.", exception);
        }

        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["id"] = id, ["text"] = text, ["contentType"] = contentType });
        if (body.Length > maxMessageBytes)
        {
            // Too big for a message: send a claim check the worker reads from the file system.
            body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["id"] = id, ["uri"] = new Uri(Path.GetFullPath(file)).AbsoluteUri, ["contentType"] = contentType });
        }

        return new OutgoingMessage(id, body) { ContentType = "application/json" };
    }

    private static IEnumerable<OutgoingMessage> FromJsonLines(TextReader reader)
    {
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            string? id;
            try
            {
                using var document = JsonDocument.Parse(line);
                id = document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("id", out var idElement)
                    && idElement.ValueKind == JsonValueKind.String ? idElement.GetString() : null;
            }
            catch (JsonException exception)
            {
                throw new InvalidOperationException($"stdin line {lineNumber}: not JSON: {exception.Message}", exception);
            }

            if (string.IsNullOrWhiteSpace(id))
            {
                throw new InvalidOperationException($"stdin line {lineNumber}: an envelope needs a string \"id\".");
            }

            yield return new OutgoingMessage(id, Encoding.UTF8.GetBytes(line)) { ContentType = "application/json" };
        }
    }
}
