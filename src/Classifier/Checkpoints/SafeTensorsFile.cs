using System.IO.MemoryMappedFiles;
using System.Text.Json;
using static TorchSharp.torch;

namespace Triage.Classifier.Checkpoints;

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">Key as stored in the file.</param>
/// <param name="DType">Safetensors dtype string: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL.</param>
/// <param name="Shape">Dimensions.</param>
/// <param name="Begin">Start offset of the data, relative to the end of the header.</param>
/// <param name="End">End offset (exclusive), relative to the end of the header.</param>
public sealed record SafeTensorEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Reads a safetensors file (8-byte little-endian header length, JSON header, raw little-endian tensor data) through
/// a memory map, so loading a 400 MB checkpoint copies each tensor once, straight into libtorch memory, instead of
/// holding the whole file and the model side by side.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>Headers beyond this are not plausible checkpoints; the limit stops a corrupt length from allocating GBs.</summary>
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly long _dataStart;

    private SafeTensorsFile(string path, MemoryMappedFile? map, MemoryMappedViewAccessor? view, long dataStart,
        IReadOnlyDictionary<string, SafeTensorEntry> entries, IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        _map = map;
        _view = view;
        _dataStart = dataStart;
        Entries = entries;
        Metadata = metadata;
    }

    public string Path { get; }

    /// <summary>Tensor entries by key, in file order of the header.</summary>
    public IReadOnlyDictionary<string, SafeTensorEntry> Entries { get; }

    /// <summary>The optional <c>__metadata__</c> string map.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens and validates the header and every entry's offsets against the file size.</summary>
    /// <exception cref="CheckpointException">The file is missing, truncated or its header is malformed.</exception>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new CheckpointException($"Safetensors file not found: {path}");
        }

        var fileLength = new FileInfo(path).Length;
        if (fileLength < 8)
        {
            throw new CheckpointException($"{path}: truncated safetensors file ({fileLength} bytes; the 8-byte header length is missing).");
        }

        ulong headerLength;
        byte[] headerBytes;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            Span<byte> lengthBytes = stackalloc byte[8];
            stream.ReadExactly(lengthBytes);
            headerLength = BitConverter.ToUInt64(lengthBytes);
            if (headerLength == 0 || headerLength > MaxHeaderBytes || (long)headerLength > fileLength - 8)
            {
                throw new CheckpointException(
                    $"{path}: corrupt safetensors header length {headerLength} (file is {fileLength} bytes).");
            }

            headerBytes = new byte[(int)headerLength];
            stream.ReadExactly(headerBytes);
        }

        var dataStart = 8 + (long)headerLength;
        var (entries, metadata) = ParseHeader(path, headerBytes, fileLength - dataStart);
        if (fileLength == dataStart)
        {
            // A file of only empty tensors: nothing to map (a zero-length map is an error on Linux).
            return new SafeTensorsFile(path, null, null, dataStart, entries, metadata);
        }

        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        return new SafeTensorsFile(path, map, view, dataStart, entries, metadata);
    }

    /// <summary>Copies one tensor out of the file into a new CPU tensor of its stored dtype.</summary>
    public Tensor ReadTensor(string name)
    {
        if (!Entries.TryGetValue(name, out var entry))
        {
            throw new CheckpointException($"{Path}: no tensor named '{name}'.");
        }

        var tensor = empty(entry.Shape, SafeTensorDTypes.ToScalarType(entry.DType, Path, name));
        var byteCount = entry.End - entry.Begin;
        if (byteCount > 0)
        {
            unsafe
            {
                byte* basePointer = null;
                _view!.SafeMemoryMappedViewHandle.AcquirePointer(ref basePointer);
                try
                {
                    var source = basePointer + _view.PointerOffset + _dataStart + entry.Begin;
                    // Tensor.bytes is a span over libtorch's own buffer: one copy, mmap → tensor.
                    new ReadOnlySpan<byte>(source, checked((int)byteCount)).CopyTo(tensor.bytes);
                }
                finally
                {
                    _view.SafeMemoryMappedViewHandle.ReleasePointer();
                }
            }
        }

        return tensor;
    }

    public void Dispose()
    {
        _view?.Dispose();
        _map?.Dispose();
    }

    private static (Dictionary<string, SafeTensorEntry>, Dictionary<string, string>) ParseHeader(
        string path, byte[] headerBytes, long dataLength)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(headerBytes);
        }
        catch (JsonException ex)
        {
            throw new CheckpointException($"{path}: safetensors header is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new CheckpointException($"{path}: safetensors header must be a JSON object.");
            }

            var entries = new Dictionary<string, SafeTensorEntry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    foreach (var item in property.Value.EnumerateObject())
                    {
                        metadata[item.Name] = item.Value.ValueKind == JsonValueKind.String ? item.Value.GetString()! : item.Value.GetRawText();
                    }

                    continue;
                }

                entries[property.Name] = ParseEntry(path, property, dataLength);
            }

            CheckNoOverlap(path, entries.Values);
            return (entries, metadata);
        }
    }

    private static SafeTensorEntry ParseEntry(string path, JsonProperty property, long dataLength)
    {
        var name = property.Name;
        try
        {
            var value = property.Value;
            var dtype = value.GetProperty("dtype").GetString() ?? throw new CheckpointException($"{path}: tensor '{name}' has no dtype.");
            var shape = value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offsets = value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0])
            {
                throw new CheckpointException($"{path}: tensor '{name}' has invalid data_offsets [{string.Join(", ", offsets)}].");
            }

            if (shape.Any(d => d < 0))
            {
                throw new CheckpointException($"{path}: tensor '{name}' has a negative dimension in shape [{string.Join(", ", shape)}].");
            }

            var entry = new SafeTensorEntry(name, dtype, shape, offsets[0], offsets[1]);
            var expectedBytes = entry.ElementCount * SafeTensorDTypes.ElementSize(dtype, path, name);
            if (offsets[1] - offsets[0] != expectedBytes)
            {
                throw new CheckpointException(
                    $"{path}: tensor '{name}' ({dtype} [{string.Join(", ", shape)}]) needs {expectedBytes} bytes but its offsets span {offsets[1] - offsets[0]}.");
            }

            if (offsets[1] > dataLength)
            {
                throw new CheckpointException(
                    $"{path}: truncated: tensor '{name}' ends at byte {offsets[1]} of the data section, which has only {dataLength} bytes.");
            }

            return entry;
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new CheckpointException($"{path}: tensor '{name}' has a malformed header entry: {ex.Message}", ex);
        }
    }

    private static void CheckNoOverlap(string path, IEnumerable<SafeTensorEntry> entries)
    {
        SafeTensorEntry? previous = null;
        foreach (var entry in entries.Where(e => e.End > e.Begin).OrderBy(e => e.Begin))
        {
            if (previous is not null && entry.Begin < previous.End)
            {
                throw new CheckpointException($"{path}: tensors '{previous.Name}' and '{entry.Name}' overlap in the data section.");
            }

            previous = entry;
        }
    }
}

/// <summary>Maps safetensors dtype strings to libtorch scalar types and sizes.</summary>
public static class SafeTensorDTypes
{
    public static ScalarType ToScalarType(string dtype, string path, string name) => dtype switch
    {
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "F64" => ScalarType.Float64,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new CheckpointException($"{path}: tensor '{name}' has unsupported dtype '{dtype}'."),
    };

    public static string FromScalarType(ScalarType type) => type switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Float64 => "F64",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new NotSupportedException($"Scalar type {type} cannot be written to safetensors."),
    };

    public static int ElementSize(string dtype, string path, string name) => dtype switch
    {
        "F64" or "I64" => 8,
        "F32" or "I32" => 4,
        "F16" or "BF16" or "I16" => 2,
        "I8" or "U8" or "BOOL" => 1,
        _ => throw new CheckpointException($"{path}: tensor '{name}' has unsupported dtype '{dtype}'."),
    };
}
