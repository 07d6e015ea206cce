using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Triage.Classifier.Inference;
using Triage.Classifier.Runtime;
using Triage.Worker.Hosting;

namespace Triage.Worker.Cli;

/// <summary><c>triage embed --model DIR --input FILE|- [--hidden]</c>: encoder features of any HF BERT checkpoint.</summary>
internal static class EmbedCommand
{
    public static Command Create(CliGlobals globals)
    {
        var model = new Option<string>("--model") { Description = "Hugging Face BERT checkpoint directory (config.json, vocab.txt, model.safetensors)", Required = true, HelpName = "DIR" };
        var input = new Option<string>("--input") { Description = "JSON Lines with a \"text\" field; - reads stdin", Required = true, HelpName = "FILE|-" };
        var hidden = new Option<bool>("--hidden") { Description = "Also write last_hidden_state ([tokens][hidden])" };
        var command = new Command("embed", "Write input_ids and mean-pooled encoder output for each input line") { model, input, hidden };
        command.SetAction((parseResult, cancellationToken) => CliRunner.RunAsync(parseResult, async output =>
        {
            using var host = TriageHost.CreateBuilder(parseResult, globals, quiet: true).AddTriageOptions().Build();
            var options = host.Services.GetRequiredService<IOptions<ModelOptions>>().Value;
            TorchRuntime.ConfigureThreads(options.Threads);
            using var embedder = new Embedder(parseResult.GetRequiredValue(model), TorchRuntime.ResolveDevice(options.Device));
            var path = parseResult.GetRequiredValue(input);
            using var reader = path == "-" ? new StreamReader(Console.OpenStandardInput()) : new StreamReader(path);
            return await EmbedAsync(embedder, reader, parseResult.GetValue(hidden), output, cancellationToken).ConfigureAwait(false);
        }));
        return command;
    }

    internal static async Task<int> EmbedAsync(Embedder embedder, TextReader input, bool includeHidden, TextWriter output, CancellationToken cancellationToken)
    {
        var lineNumber = 0;
        while (await input.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            JsonNode? node;
            try
            {
                node = JsonNode.Parse(line);
            }
            catch (JsonException exception)
            {
                throw new InvalidOperationException($"input line {lineNumber}: not JSON: {exception.Message}", exception);
            }

            if (node?["text"]?.GetValueKind() != JsonValueKind.String)
            {
                throw new InvalidOperationException($"input line {lineNumber}: needs a string \"text\" field.");
            }

            var embedding = embedder.Embed(node["text"]!.GetValue<string>(), includeHidden);
            var result = new JsonObject();
            if (node["id"] is { } id)
            {
                result["id"] = id.DeepClone();
            }

            result["input_ids"] = new JsonArray(embedding.InputIds.Select(i => (JsonNode?)i).ToArray());
            result["mean_pooled"] = new JsonArray(embedding.MeanPooled.Select(v => (JsonNode?)v).ToArray());
            if (embedding.LastHiddenState is { } rows)
            {
                result["last_hidden_state"] = new JsonArray(rows.Select(r => (JsonNode?)new JsonArray(r.Select(v => (JsonNode?)v).ToArray())).ToArray());
            }

            await output.WriteLineAsync(result.ToJsonString()).ConfigureAwait(false);
        }

        return CliRunner.Ok;
    }
}
