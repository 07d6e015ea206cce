using System.Text.Json.Nodes;

namespace Triage.Classifier.Modeling;

/// <summary>
/// The encoder method of a model as stored in triage.json: a name (dense, ptc-p, ptc-pf, ptc-c, ptc-pfc, ltp) and
/// its parameters as a JSON object, so each method owns and validates its own options.
/// </summary>
/// <param name="Name">Method name.</param>
/// <param name="Parameters">Method parameters (may be empty).</param>
public sealed record MethodSettings(string Name, JsonObject Parameters)
{
    public static MethodSettings Dense { get; } = new("dense", []);
}

/// <summary>Builds the encoder strategy a model's method names. Pruning methods register here.</summary>
public static class EncoderStrategyFactory
{
    /// <summary>Method names this build knows.</summary>
    public static IReadOnlyList<string> KnownMethods { get; } = ["dense", .. Pruning.PruningMethods.Names];

    /// <exception cref="ArgumentException">Unknown method or invalid parameters; the message names the field.</exception>
    public static EncoderStrategy Create(MethodSettings method, Checkpoints.BertConfig config)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(config);
        return method.Name switch
        {
            "dense" => new DenseStrategy(config.AttentionProbsDropoutProb),
            _ when Pruning.PruningMethods.Names.Contains(method.Name) => Pruning.PruningMethods.Create(method, config),
            _ => throw new ArgumentException(
                $"method.name '{method.Name}' is not known; expected one of {string.Join(", ", KnownMethods)}."),
        };
    }
}
