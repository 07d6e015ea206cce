using System.Text.Json.Serialization;

namespace Triage.Storage;

/// <summary>Source-generated JSON for the probabilities column: no reflection on the hot write path.</summary>
[JsonSerializable(typeof(IReadOnlyDictionary<string, double>))]
[JsonSerializable(typeof(Dictionary<string, double>))]
internal sealed partial class StorageJsonContext : JsonSerializerContext;
