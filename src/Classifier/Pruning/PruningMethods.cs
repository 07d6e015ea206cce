using Triage.Classifier.Checkpoints;
using Triage.Classifier.Modeling;

namespace Triage.Classifier.Pruning;

/// <summary>
/// Builds the PTC and LTP strategies from triage.json. Parameters (all optional, defaults in brackets):
/// <list type="bullet">
/// <item>ptc-p: p [0.9], perHead [true].</item>
/// <item>ptc-pf: p [0.9], perHead [true].</item>
/// <item>ptc-c: combinationTokens [8], combineLayer [round(7/12·L)], gumbelTemperature [1], initFromLayer [true].</item>
/// <item>ptc-pfc: all of the above.</item>
/// <item>ltp: finalThreshold [0.01·128/max_position_embeddings], temperature [1e-3·128/max_position_embeddings], lambda [0.1].</item>
/// </list>
/// </summary>
public static class PruningMethods
{
    public const string PtcP = "ptc-p";
    public const string PtcPf = "ptc-pf";
    public const string PtcC = "ptc-c";
    public const string PtcPfc = "ptc-pfc";
    public const string Ltp = "ltp";

    /// <summary>The method names this file builds.</summary>
    public static IReadOnlyList<string> Names { get; } = [PtcP, PtcPf, PtcC, PtcPfc, Ltp];

    private static readonly string[] PruningParameters = ["p", "perHead"];
    private static readonly string[] CombiningParameters = ["combinationTokens", "combineLayer", "gumbelTemperature", "initFromLayer"];
    private static readonly string[] LtpParameters = ["finalThreshold", "temperature", "lambda"];

    /// <summary>The paper's efficiency placement (layer 7 of 12) scaled to <paramref name="layers"/>, at least 1.</summary>
    public static int DefaultCombineLayer(int layers) =>
        Math.Clamp((int)Math.Round(7.0 * layers / 12.0, MidpointRounding.AwayFromZero), 1, Math.Max(1, layers));

    /// <exception cref="ArgumentException">Unknown method or invalid parameter; the message names the field.</exception>
    public static EncoderStrategy Create(MethodSettings method, BertConfig config)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(config);
        return method.Name switch
        {
            PtcP => Ptc(method, config, prune: true, fuzzy: false, combine: false),
            PtcPf => Ptc(method, config, prune: true, fuzzy: true, combine: false),
            PtcC => Ptc(method, config, prune: false, fuzzy: false, combine: true),
            PtcPfc => Ptc(method, config, prune: true, fuzzy: true, combine: true),
            Ltp => CreateLtp(method, config),
            _ => throw new ArgumentException($"method.name '{method.Name}' is not a pruning method; expected one of {string.Join(", ", Names)}."),
        };
    }

    private static PtcStrategy Ptc(MethodSettings method, BertConfig config, bool prune, bool fuzzy, bool combine)
    {
        string[] known = [.. prune ? PruningParameters : [], .. combine ? CombiningParameters : []];
        var read = new MethodParameters(method, known);
        double? keepRatio = null;
        var perHead = true;
        if (prune)
        {
            var p = read.Double("p", 0.9);
            MethodParameters.Require(p is > 0 and <= 1, $"method.p must be in (0, 1], got {p}.");
            keepRatio = p;
            perHead = read.Bool("perHead", true);
        }

        int tokens = 0, layer = 0;
        double temperature = 1.0;
        var warmStart = true;
        if (combine)
        {
            tokens = read.Int("combinationTokens", 8);
            MethodParameters.Require(tokens >= 1, $"method.combinationTokens must be at least 1, got {tokens}.");
            var layers = config.NumHiddenLayers;
            layer = read.Int("combineLayer", DefaultCombineLayer(layers));
            MethodParameters.Require(layer >= 1 && layer <= layers, $"method.combineLayer must be in [1, {layers}] (1-based, the layer the module replaces), got {layer}.");
            temperature = read.Double("gumbelTemperature", 1.0);
            MethodParameters.Require(temperature > 0, $"method.gumbelTemperature must be positive, got {temperature}.");
            warmStart = read.Bool("initFromLayer", true);
        }

        var options = new PtcOptions(method.Name, keepRatio, fuzzy ? new FuzzyRule() : null, perHead, tokens, layer, temperature, warmStart);
        return new PtcStrategy(options, config.HiddenSize, config.AttentionProbsDropoutProb, config.LayerNormEps);
    }

    private static LtpStrategy CreateLtp(MethodSettings method, BertConfig config)
    {
        var read = new MethodParameters(method, LtpParameters);
        var defaults = LtpOptions.For(config);
        var final = read.Double("finalThreshold", defaults.FinalThreshold);
        MethodParameters.Require(final is >= 0 and < 1, $"method.finalThreshold must be in [0, 1), got {final}.");
        var temperature = read.Double("temperature", defaults.Temperature);
        MethodParameters.Require(temperature > 0, $"method.temperature must be positive, got {temperature}.");
        var lambda = read.Double("lambda", defaults.Lambda);
        MethodParameters.Require(lambda >= 0, $"method.lambda must be non-negative, got {lambda}.");
        return new LtpStrategy(new LtpOptions(final, temperature, lambda), config.NumHiddenLayers, config.AttentionProbsDropoutProb);
    }
}
