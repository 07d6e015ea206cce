using System.Text.Json;
using static TorchSharp.torch;

namespace Triage.Classifier.Checkpoints;

/// <summary>
/// Writes tensors to a safetensors file, streaming one tensor at a time (no second copy of the model in memory).
/// Keys are written in ordinal order so the same tensors always give the same bytes.
/// </summary>
public static class SafeTensorsWriter
{
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var ordered = tensors.OrderBy(t => t.Key, StringComparer.Ordinal).ToList();

        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        if (metadata is { Count: > 0 })
        {
            header["__metadata__"] = metadata;
        }

        long offset = 0;
        foreach (var (name, tensor) in ordered)
        {
            var bytes = tensor.numel() * tensor.ElementSize;
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = SafeTensorDTypes.FromScalarType(tensor.dtype),
                ["shape"] = tensor.shape,
                ["data_offsets"] = new[] { offset, offset + bytes },
            };
            offset += bytes;
        }

        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        // The format recommends padding the header with spaces to an 8-byte boundary, so the data stays aligned.
        var padded = (json.Length + 7) / 8 * 8;
        var headerBytes = new byte[padded];
        json.CopyTo(headerBytes, 0);
        for (var i = json.Length; i < padded; i++)
        {
            headerBytes[i] = (byte)' ';
        }

        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            stream.Write(BitConverter.GetBytes((ulong)padded));
            stream.Write(headerBytes);
            foreach (var (_, tensor) in ordered)
            {
                WriteTensorData(stream, tensor);
            }
        }

        File.Move(temporary, path, overwrite: true);
    }

    private static void WriteTensorData(Stream stream, Tensor tensor)
    {
        using var scope = NewDisposeScope();
        var contiguous = tensor.detach().cpu().contiguous();
        var byteCount = contiguous.numel() * contiguous.ElementSize;
        if (byteCount == 0)
        {
            return;
        }

        // A span over libtorch's buffer: streamed straight to the file without a managed copy.
        stream.Write(contiguous.bytes);
    }
}
