using System.Text;
using System.Text.Json.Nodes;
using Triage.Classifier.Checkpoints;
using Triage.Classifier.Modeling;
using Triage.Classifier.Tests.Support;
using static TorchSharp.torch;

namespace Triage.Classifier.Tests;

public sealed class CheckpointTests
{
    [Fact]
    public void Safetensors_round_trip_preserves_every_dtype_bit_for_bit()
    {
        using var dir = new TempDirectory();
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>
        {
            ["f32"] = randn(3, 5),
            ["f16"] = randn(4, 2).to(ScalarType.Float16),
            ["bf16"] = randn(7).to(ScalarType.BFloat16),
            ["i64"] = arange(10L),
            ["empty"] = zeros(0, 4),
        };
        var path = dir.File("t.safetensors");
        SafeTensorsWriter.Write(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        foreach (var (name, expected) in tensors)
        {
            using var actual = file.ReadTensor(name);
            Assert.Equal(expected.dtype, actual.dtype);
            Assert.Equal(expected.shape, actual.shape);
            Assert.True(expected.bytes.SequenceEqual(actual.bytes), name);
        }

        // Header length is 8-byte aligned, as the format recommends.
        var length = BitConverter.ToUInt64(File.ReadAllBytes(path).AsSpan(0, 8));
        Assert.Equal(0UL, length % 8);
    }

    [Fact]
    public void Truncated_file_names_the_file_and_the_tensor()
    {
        using var dir = new TempDirectory();
        var path = dir.File("t.safetensors");
        using (var scope = NewDisposeScope())
        {
            SafeTensorsWriter.Write(path, new Dictionary<string, Tensor> { ["a.weight"] = randn(64, 64) });
        }

        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^100]);
        var ex = Assert.Throws<CheckpointException>(() => SafeTensorsFile.Open(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", ex.Message, StringComparison.Ordinal);
        Assert.Contains("a.weight", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { 1, 2, 3 }, "truncated")]
    [InlineData(new byte[] { 255, 255, 255, 255, 0, 0, 0, 0, 123 }, "corrupt safetensors header length")]
    public void Corrupt_files_fail_with_a_clear_message(byte[] content, string expected)
    {
        using var dir = new TempDirectory();
        var path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, content);
        var ex = Assert.Throws<CheckpointException>(() => SafeTensorsFile.Open(path));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Malformed_header_json_is_reported()
    {
        using var dir = new TempDirectory();
        var path = dir.File("bad.safetensors");
        var header = Encoding.UTF8.GetBytes("{\"a\": {\"dtype\": \"F32\", ");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)header.Length), .. header]);
        var ex = Assert.Throws<CheckpointException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("not valid JSON", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parity_b_loads_with_bert_prefix_gamma_beta_and_extra_heads_reported()
    {
        var directory = SharedAssets.Models("parity-b");
        var config = BertConfig.Load(Path.Combine(directory, "config.json"));
        using var model = new BertModel(config);
        using var file = SafeTensorsFile.Open(Path.Combine(directory, "model.safetensors"));
        Assert.Contains(file.Entries.Values, e => e.DType == "F16");
        var report = CheckpointLoader.Load(model, file, "");
        Assert.Equal(model.named_parameters().Count(), report.Loaded.Count);
        Assert.Contains(report.Ignored, k => k.StartsWith("cls.predictions.", StringComparison.Ordinal));
        Assert.Contains(report.Ignored, k => k.Contains("pooler", StringComparison.Ordinal));
    }

    [Fact]
    public void Missing_tensor_and_shape_mismatch_name_the_key_and_shapes()
    {
        using var dir = new TempDirectory();
        var config = new BertConfig { VocabSize = 50, HiddenSize = 8, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 16, MaxPositionEmbeddings = 16 };
        using var model = new BertModel(config);
        using (var scope = NewDisposeScope())
        {
            var state = CheckpointLoader.StateOf(model)
                .Where(p => p.Key != "encoder.layer.0.output.dense.bias")
                .Select(p => p.Key == "embeddings.word_embeddings.weight" ? new KeyValuePair<string, Tensor>(p.Key, zeros(49, 8)) : p)
                .ToList();
            SafeTensorsWriter.Write(dir.File("m.safetensors"), state);
        }

        using var file = SafeTensorsFile.Open(dir.File("m.safetensors"));
        var ex = Assert.Throws<CheckpointException>(() => CheckpointLoader.Load(model, file, ""));
        Assert.Contains("'encoder.layer.0.output.dense.bias'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'embeddings.word_embeddings.weight': expected [50, 8], file has [49, 8]", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Real_minilm_layout_with_bf16_and_position_ids_buffer_loads()
    {
        // The real all-MiniLM-L6-v2 header (names, shapes, an I64 position_ids buffer), filled with data here.
        using var dir = new TempDirectory();
        var reference = Path.Combine(SharedAssets.Root, "assets", "reference", "all-MiniLM-L6-v2");
        var header = JsonNode.Parse(File.ReadAllText(Path.Combine(reference, "model.safetensors.header.json")))!.AsObject();
        using (var scope = NewDisposeScope())
        {
            var tensors = new List<KeyValuePair<string, Tensor>>();
            foreach (var (name, node) in header)
            {
                if (name == "__metadata__")
                {
                    continue;
                }

                var shape = node!["shape"]!.AsArray().Select(n => n!.GetValue<long>()).ToArray();
                var dtype = node["dtype"]!.GetValue<string>();
                // Store float weights as BF16 to exercise that path on a real layout.
                tensors.Add(new(name, dtype == "I64" ? zeros(shape, ScalarType.Int64) : (randn(shape) * 0.02).to(ScalarType.BFloat16)));
            }

            SafeTensorsWriter.Write(dir.File("model.safetensors"), tensors);
        }

        var config = BertConfig.Load(Path.Combine(reference, "config.json"));
        using var model = new BertModel(config);
        using var file = SafeTensorsFile.Open(dir.File("model.safetensors"));
        var report = CheckpointLoader.Load(model, file, "");
        Assert.Contains("embeddings.position_ids", report.Ignored);
        Assert.Equal(6, config.NumHiddenLayers);
        Assert.Equal(model.named_parameters().Count(), report.Loaded.Count);
    }

    [Theory]
    [InlineData("\"model_type\": \"roberta\"", "unsupported model_type 'roberta'")]
    [InlineData("\"hidden_act\": \"swish\"", "unsupported hidden_act 'swish'")]
    [InlineData("\"hidden_size\": 30", "not divisible by num_attention_heads")]
    public void Unsupported_configs_are_rejected_by_name(string field, string expected)
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("config.json"), "{ \"num_attention_heads\": 4, " + field + " }");
        var ex = Assert.Throws<CheckpointException>(() => BertConfig.Load(dir.File("config.json")));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Contains("config.json", ex.Message, StringComparison.Ordinal);
    }
}
