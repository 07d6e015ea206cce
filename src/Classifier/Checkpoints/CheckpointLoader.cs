using static TorchSharp.torch;

namespace Triage.Classifier.Checkpoints;

/// <summary>What a load did besides filling the model.</summary>
/// <param name="Loaded">Model keys filled from the file.</param>
/// <param name="Ignored">File keys the model does not use (e.g. <c>cls.predictions.*</c>, an unused pooler, <c>position_ids</c>).</param>
/// <param name="LeftInitialised">Model keys allowed to be absent (e.g. a new classification head) and left as initialised.</param>
public sealed record LoadReport(IReadOnlyList<string> Loaded, IReadOnlyList<string> Ignored, IReadOnlyList<string> LeftInitialised);

/// <summary>
/// Fills a module from a safetensors checkpoint by key lookup. File keys are normalised to Hugging Face
/// BertForSequenceClassification names: a plain BertModel's <c>embeddings.*</c> becomes <c>bert.embeddings.*</c>,
/// and the old TensorFlow-era LayerNorm names <c>gamma</c>/<c>beta</c> become <c>weight</c>/<c>bias</c>.
/// </summary>
public static class CheckpointLoader
{
    private static readonly string[] EncoderRoots = ["embeddings.", "encoder.", "pooler."];

    /// <summary>Maps a file key to the model's key space; <paramref name="encoderPrefix"/> is "bert." for a classifier, "" for a bare encoder.</summary>
    public static string NormaliseKey(string fileKey, string encoderPrefix)
    {
        ArgumentNullException.ThrowIfNull(fileKey);
        var key = fileKey;
        if (key.StartsWith("bert.", StringComparison.Ordinal))
        {
            key = key["bert.".Length..];
        }

        if (key.Contains("LayerNorm.", StringComparison.Ordinal))
        {
            if (key.EndsWith(".gamma", StringComparison.Ordinal))
            {
                key = key[..^".gamma".Length] + ".weight";
            }
            else if (key.EndsWith(".beta", StringComparison.Ordinal))
            {
                key = key[..^".beta".Length] + ".bias";
            }
        }

        return EncoderRoots.Any(root => key.StartsWith(root, StringComparison.Ordinal)) ? encoderPrefix + key : key;
    }

    /// <summary>Loads every parameter of <paramref name="module"/> from <paramref name="file"/>.</summary>
    /// <param name="module">Target module, on any device.</param>
    /// <param name="file">Open checkpoint.</param>
    /// <param name="encoderPrefix">"bert." when the module nests the encoder under <c>bert</c>.</param>
    /// <param name="mayBeMissing">Model keys that may be absent from the file (left as initialised).</param>
    /// <param name="skip">Model keys not to load even where the file has them (left as initialised), e.g. another
    /// model's classifier head.</param>
    /// <exception cref="CheckpointException">A required key is missing or a shape differs; the message names them.</exception>
    public static LoadReport Load(nn.Module module, SafeTensorsFile file, string encoderPrefix, Func<string, bool>? mayBeMissing = null, Func<string, bool>? skip = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(file);
        var byModelKey = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var fileKey in file.Entries.Keys)
        {
            var modelKey = NormaliseKey(fileKey, encoderPrefix);
            if (!byModelKey.TryAdd(modelKey, fileKey))
            {
                throw new CheckpointException($"{file.Path}: keys '{byModelKey[modelKey]}' and '{fileKey}' both map to '{modelKey}'.");
            }
        }

        var parameters = module.named_parameters().ToList();
        var missing = new List<string>();
        var mismatched = new List<string>();
        var leftInitialised = new List<string>();
        foreach (var (name, parameter) in parameters)
        {
            if (skip?.Invoke(name) == true)
            {
                leftInitialised.Add(name);
                continue;
            }

            if (!byModelKey.TryGetValue(name, out var fileKey))
            {
                if (mayBeMissing?.Invoke(name) == true)
                {
                    leftInitialised.Add(name);
                }
                else
                {
                    missing.Add(name);
                }

                continue;
            }

            var entry = file.Entries[fileKey];
            if (!entry.Shape.SequenceEqual(parameter.shape))
            {
                mismatched.Add($"'{fileKey}': expected [{string.Join(", ", parameter.shape)}], file has [{string.Join(", ", entry.Shape)}]");
            }
            else if (entry.DType is not ("F32" or "F16" or "BF16" or "F64"))
            {
                mismatched.Add($"'{fileKey}': expected a floating-point tensor, file has {entry.DType}");
            }
        }

        if (missing.Count > 0 || mismatched.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0)
            {
                parts.Add($"missing tensor(s) {string.Join(", ", missing.Take(10).Select(m => $"'{m}'"))}{(missing.Count > 10 ? $" and {missing.Count - 10} more" : "")}");
            }

            if (mismatched.Count > 0)
            {
                parts.Add($"shape/dtype mismatch {string.Join("; ", mismatched.Take(10))}");
            }

            throw new CheckpointException($"{file.Path}: cannot load checkpoint: {string.Join("; ", parts)}.");
        }

        var loaded = new List<string>();
        using (no_grad())
        {
            foreach (var (name, parameter) in parameters)
            {
                if (skip?.Invoke(name) == true || !byModelKey.TryGetValue(name, out var fileKey))
                {
                    continue;
                }

                using var stored = file.ReadTensor(fileKey);
                using var converted = stored.to(parameter.dtype, parameter.device);
                parameter.copy_(converted);
                loaded.Add(name);
            }
        }

        var used = new HashSet<string>(loaded, StringComparer.Ordinal);
        var ignored = byModelKey.Where(kv => !used.Contains(kv.Key)).Select(kv => kv.Value).OrderBy(k => k, StringComparer.Ordinal).ToList();
        return new LoadReport(loaded, ignored, leftInitialised);
    }

    /// <summary>Every parameter of <paramref name="module"/> by key, for <see cref="SafeTensorsWriter"/>.</summary>
    public static IEnumerable<KeyValuePair<string, Tensor>> StateOf(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        return module.named_parameters().Select(p => new KeyValuePair<string, Tensor>(p.name, p.parameter));
    }
}
