using System.Text.Json;
using System.Text.Json.Nodes;
using Triage.Classifier.Modeling;

namespace Triage.Classifier.Pruning;

/// <summary>Typed, validated reads of a method's JSON parameters; every error names the field as <c>method.&lt;name&gt;</c>.</summary>
internal sealed class MethodParameters
{
    private readonly JsonObject _parameters;

    /// <exception cref="ArgumentException">A parameter is not one of <paramref name="known"/>.</exception>
    public MethodParameters(MethodSettings settings, IReadOnlyCollection<string> known)
    {
        _parameters = settings.Parameters ?? [];
        foreach (var (name, _) in _parameters)
        {
            if (!known.Contains(name))
            {
                throw new ArgumentException(
                    $"method.{name} is not a parameter of {settings.Name}; expected {(known.Count == 0 ? "none" : string.Join(", ", known))}.");
            }
        }
    }

    public double Double(string name, double fallback)
    {
        if (_parameters[name] is not { } node)
        {
            return fallback;
        }

        if (Number(node) is { } result && double.IsFinite(result))
        {
            return result;
        }

        throw new ArgumentException($"method.{name} must be a number.");
    }

    public int Int(string name, int fallback)
    {
        if (_parameters[name] is not { } node)
        {
            return fallback;
        }

        if (Number(node) is { } number && number == Math.Floor(number) && number is >= int.MinValue and <= int.MaxValue)
        {
            return (int)number;
        }

        throw new ArgumentException($"method.{name} must be an integer.");
    }

    public bool Bool(string name, bool fallback)
    {
        if (_parameters[name] is not { } node)
        {
            return fallback;
        }

        return node.GetValueKind() switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ArgumentException($"method.{name} must be true or false."),
        };
    }

    // A parsed document holds JSON elements, code-built objects hold CLR values; read both.
    private static double? Number(JsonNode node)
    {
        if (node is not JsonValue value || value.GetValueKind() != JsonValueKind.Number)
        {
            return null;
        }

        if (value.TryGetValue<double>(out var d))
        {
            return d;
        }

        if (value.TryGetValue<long>(out var l))
        {
            return l;
        }

        if (value.TryGetValue<int>(out var i))
        {
            return i;
        }

        if (value.TryGetValue<float>(out var f))
        {
            return f;
        }

        return value.TryGetValue<decimal>(out var m) ? (double)m : null;
    }

    public static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new ArgumentException(message);
        }
    }
}
