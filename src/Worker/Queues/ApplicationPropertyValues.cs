using System.Collections.ObjectModel;
using System.Globalization;
using System.Text.Json;

namespace Triage.Worker.Queues;

/// <summary>
/// The value types application properties may hold. Both transports carry exactly these, so a message looks the same
/// whichever transport delivered it: integers come back as <see cref="long"/>, floating point as <see cref="double"/>.
/// </summary>
internal static class ApplicationPropertyValues
{
    public static readonly IReadOnlyDictionary<string, object> Empty =
        new ReadOnlyDictionary<string, object>(new Dictionary<string, object>());

    /// <summary>Converts a value to its canonical type, or throws for types the transports cannot carry.</summary>
    public static object Normalize(string name, object? value) => value switch
    {
        string or bool or long or double or Guid or DateTimeOffset => value,
        int or short or sbyte or byte or ushort or uint => Convert.ToInt64(value, CultureInfo.InvariantCulture),
        ulong u when u <= long.MaxValue => (long)u,
        float f => (double)f,
        decimal d => (double)d,
        DateTime dt => new DateTimeOffset(dt.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(dt, DateTimeKind.Utc) : dt),
        null => throw new ArgumentException($"Application property '{name}' is null; omit it instead.", nameof(value)),
        _ => throw new ArgumentException(
            $"Application property '{name}' has type {value.GetType().Name}; supported: string, bool, integer, floating point, Guid, DateTimeOffset.",
            nameof(value)),
    };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first property a transport cannot carry.</summary>
    public static void Validate(IReadOnlyDictionary<string, object> properties)
    {
        ArgumentNullException.ThrowIfNull(properties);
        foreach (var (name, value) in properties)
        {
            Normalize(name, value);
        }
    }

    /// <summary>Normalizes every value; unsupported ones throw when <paramref name="strict"/>, else are skipped
    /// (a broker may add properties of its own that the worker does not care about).</summary>
    public static IReadOnlyDictionary<string, object> NormalizeAll(IEnumerable<KeyValuePair<string, object?>> source, bool strict)
    {
        var result = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (name, value) in source)
        {
            if (strict)
            {
                result[name] = Normalize(name, value);
                continue;
            }

            try
            {
                result[name] = Normalize(name, value);
            }
            catch (ArgumentException)
            {
                // Unsupported broker-supplied value (e.g. a nested map): leave it out rather than fail the receive.
            }
        }

        return result.Count == 0 ? Empty : new ReadOnlyDictionary<string, object>(result);
    }

    /// <summary>Encodes properties as JSON with a type tag per value, so types survive storage.</summary>
    public static string? ToJson(IReadOnlyDictionary<string, object> properties)
    {
        if (properties.Count == 0)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (name, raw) in properties)
            {
                var value = Normalize(name, raw);
                writer.WriteStartArray(name);
                switch (value)
                {
                    case string s: writer.WriteStringValue("s"); writer.WriteStringValue(s); break;
                    case bool b: writer.WriteStringValue("b"); writer.WriteBooleanValue(b); break;
                    case long l: writer.WriteStringValue("l"); writer.WriteNumberValue(l); break;
                    case double d: writer.WriteStringValue("d"); writer.WriteNumberValue(d); break;
                    case Guid g: writer.WriteStringValue("g"); writer.WriteStringValue(g); break;
                    case DateTimeOffset t: writer.WriteStringValue("t"); writer.WriteStringValue(t); break;
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static IReadOnlyDictionary<string, object> FromJson(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return Empty;
        }

        using var document = JsonDocument.Parse(json);
        var result = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            var tag = property.Value[0].GetString();
            var value = property.Value[1];
            result[property.Name] = tag switch
            {
                "s" => value.GetString()!,
                "b" => value.GetBoolean(),
                "l" => value.GetInt64(),
                "d" => value.GetDouble(),
                "g" => value.GetGuid(),
                "t" => value.GetDateTimeOffset(),
                _ => throw new FormatException($"Unknown application property tag '{tag}'."),
            };
        }

        return new ReadOnlyDictionary<string, object>(result);
    }
}
