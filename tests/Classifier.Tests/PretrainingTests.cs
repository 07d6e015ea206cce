using Triage.Classifier.Checkpoints;
using Triage.Classifier.Inference;
using Triage.Classifier.Pretraining;
using Triage.Classifier.Tests.Support;
using Triage.Classifier.Tokenization;

namespace Triage.Classifier.Tests;

[Collection(GlobalRngCollection.Name)]
public sealed class PretrainingTests
{
    private static readonly BertConfig Tiny = new() { HiddenSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 64, MaxPositionEmbeddings = 64 };

    private static string Corpus(TempDirectory dir, int perSplit = 40)
    {
        var lines = File.ReadLines(SharedAssets.Dataset("bbc-news")).Take(400).ToList();
        var chosen = lines.Where(l => l.Contains("\"split\": \"train\"", StringComparison.Ordinal)).Take(perSplit)
            .Concat(lines.Where(l => l.Contains("\"split\": \"validation\"", StringComparison.Ordinal)).Take(5))
            .Concat(lines.Where(l => l.Contains("\"split\": \"test\"", StringComparison.Ordinal)).Take(5));
        File.WriteAllLines(dir.File("corpus.jsonl"), chosen);
        return dir.File("corpus.jsonl");
    }

    private static PretrainRequest Request(string corpus, string output, int steps) => new()
    {
        Inputs = [corpus],
        OutputDirectory = output,
        Config = Tiny,
        VocabPath = SharedAssets.BertBaseVocab,
        MaxTokens = 64,
        BatchSize = 8,
        LearningRate = 2e-3,
        MaxSteps = steps,
        CheckpointEvery = 4,
        Threads = 1,
    };

    [Fact]
    public void Mlm_loss_goes_down_and_the_checkpoint_loads_as_a_hugging_face_bert()
    {
        using var dir = new TempDirectory();
        var losses = new List<double>();
        var outcome = Pretrainer.Run(Request(Corpus(dir), dir.File("base"), 30), new Progress(p => losses.Add(p.Loss)), CancellationToken.None);
        Assert.True(outcome.Finished);
        Assert.Equal(30, outcome.Steps);
        Assert.True(losses.TakeLast(5).Average() < losses.Take(5).Average() - 0.5, $"MLM loss {losses.Take(5).Average():F2} → {losses.TakeLast(5).Average():F2}");
        Assert.True(outcome.HeldOut.MaskedTokens > 0 && double.IsFinite(outcome.HeldOut.Loss));
        Assert.False(Directory.Exists(dir.File("base/checkpoint")));

        // The output is a plain HF BERT checkpoint: config.json, vocab.txt, model.safetensors with bert.* and cls.* keys.
        using var file = SafeTensorsFile.Open(dir.File("base/model.safetensors"));
        Assert.Contains("cls.predictions.transform.dense.weight", file.Entries.Keys);
        Assert.Contains("bert.encoder.layer.0.attention.self.query.weight", file.Entries.Keys);
        using var embedder = new Embedder(dir.File("base"));
        Assert.Contains(embedder.LoadReport.Ignored, k => k.StartsWith("cls.predictions", StringComparison.Ordinal));
        Assert.Equal(32, embedder.Embed("Shares rose sharply.", includeHidden: false).MeanPooled.Length);
    }

    [Fact]
    public void An_f16_export_of_an_existing_checkpoint_takes_no_steps_and_loads_with_the_same_weights()
    {
        using var dir = new TempDirectory();
        var corpus = Corpus(dir);
        Pretrainer.Run(Request(corpus, dir.File("base"), 6), null, CancellationToken.None);

        // --init-from base --epochs 0 --storage f16: the shipped base is made this way (half the bytes, fp32 inference).
        var export = Request(corpus, dir.File("base-f16"), 0) with { InitFrom = dir.File("base"), Epochs = 0, Storage = TorchSharp.torch.ScalarType.Float16, HeldOutSplit = "none" };
        var outcome = Pretrainer.Run(export, null, CancellationToken.None);
        Assert.Equal(0, outcome.Steps);
        Assert.Equal(0, outcome.HeldOut.MaskedTokens);
        Assert.Contains("\"held_out_mlm_loss\": null", File.ReadAllText(dir.File("base-f16/pretrain.json")), StringComparison.Ordinal);
        using var f32 = SafeTensorsFile.Open(dir.File("base/model.safetensors"));
        using var f16 = SafeTensorsFile.Open(dir.File("base-f16/model.safetensors"));
        Assert.All(f16.Entries.Values, e => Assert.Equal("F16", e.DType));
        Assert.Equal(f32.Entries.Keys.Order(StringComparer.Ordinal), f16.Entries.Keys.Order(StringComparer.Ordinal));
        using var a = f32.ReadTensor("bert.encoder.layer.0.output.dense.weight");
        using var b = f16.ReadTensor("bert.encoder.layer.0.output.dense.weight");
        Assert.True(a.allclose(b.to(a.dtype), rtol: 1e-3, atol: 1e-4));
    }

    [Fact]
    public void Resume_after_a_kill_gives_the_same_weights_as_an_uninterrupted_run()
    {
        using var dir = new TempDirectory();
        var corpus = Corpus(dir);
        Pretrainer.Run(Request(corpus, dir.File("straight"), 12), null, CancellationToken.None);

        // A crash at step 7: the last checkpoint on disk is step 4, nothing of steps 5–7 was saved.
        var crashed = dir.File("crashed");
        Assert.Throws<SimulatedCrashException>(() => Pretrainer.Run(Request(corpus, crashed, 12), new Progress(p =>
        {
            if (p.Step == 7)
            {
                throw new SimulatedCrashException();
            }
        }), CancellationToken.None));
        Assert.True(File.Exists(Path.Combine(crashed, "checkpoint", "state.json")));

        var resumed = Pretrainer.Run(Request(corpus, crashed, 12), null, CancellationToken.None);
        Assert.Equal(4, resumed.ResumedFromStep);
        Assert.Equal(
            File.ReadAllBytes(dir.File("straight/model.safetensors")),
            File.ReadAllBytes(Path.Combine(crashed, "model.safetensors")));
    }

    [Fact]
    public void Masking_selects_about_15_percent_with_80_10_10_replacement_and_never_specials()
    {
        var vocabulary = File.ReadAllLines(SharedAssets.BertBaseVocab);
        var tokenizer = WordPieceTokenizer.Load(SharedAssets.BertBaseVocab);
        var ids = Enumerable.Range(0, 20000).Select(i => 2000 + (i % 5000)).ToArray();
        ids[0] = tokenizer.ClsId;
        ids[^1] = tokenizer.SepId;
        var sequence = new PackedSequence(ids, ids.Select(i => !vocabulary[i].StartsWith("##", StringComparison.Ordinal)).ToArray());
        var masker = new MlmMasker(tokenizer.MaskId, vocabulary.Length, [tokenizer.ClsId, tokenizer.SepId, tokenizer.PadId]);
        var (inputs, labels) = masker.Mask(sequence, new Random(3));
        var selected = Enumerable.Range(0, ids.Length).Where(i => labels[i] != -100).ToList();
        Assert.InRange(selected.Count / (double)ids.Length, 0.14, 0.16);
        Assert.Equal(-100, labels[0]);
        Assert.Equal(-100, labels[^1]);
        var masked = selected.Count(i => inputs[i] == tokenizer.MaskId) / (double)selected.Count;
        var kept = selected.Count(i => inputs[i] == ids[i]) / (double)selected.Count;
        Assert.InRange(masked, 0.77, 0.83);
        Assert.InRange(kept, 0.08, 0.12); // 10% kept, plus the rare random draw of the same id
        Assert.All(Enumerable.Range(0, ids.Length).Where(i => labels[i] == -100), i => Assert.Equal(ids[i], inputs[i]));
    }

    [Fact]
    public void Whole_word_masking_masks_every_piece_of_a_chosen_word()
    {
        var vocabulary = File.ReadAllLines(SharedAssets.BertBaseVocab);
        var tokenizer = WordPieceTokenizer.Load(SharedAssets.BertBaseVocab);
        var words = string.Join(' ', Enumerable.Repeat("unbelievably antidisestablishmentarianism", 200));
        var packed = SequencePacker.Pack([tokenizer.Encode(words)], tokenizer, vocabulary, 512);
        var masker = new MlmMasker(tokenizer.MaskId, vocabulary.Length, [tokenizer.ClsId, tokenizer.SepId, tokenizer.PadId], wholeWord: true);
        var sequence = packed[0];
        var (_, labels) = masker.Mask(sequence, new Random(5));
        for (var i = 2; i < sequence.Ids.Length - 1; i++)
        {
            if (!sequence.WordStart[i])
            {
                Assert.Equal(labels[i - 1] != -100, labels[i] != -100);
            }
        }

        Assert.Contains(labels, l => l != -100);
    }

    [Fact]
    public void Packing_fills_windows_and_the_corpus_reader_skips_test_splits()
    {
        using var dir = new TempDirectory();
        var corpus = Corpus(dir);
        var texts = UnlabelledCorpus.Read(corpus, new HashSet<string> { "train" }).ToList();
        Assert.Equal(40, texts.Count);
        var vocabulary = File.ReadAllLines(SharedAssets.BertBaseVocab);
        var tokenizer = WordPieceTokenizer.Load(SharedAssets.BertBaseVocab);
        var packed = SequencePacker.Pack(texts.Select(tokenizer.Encode), tokenizer, vocabulary, 128);
        Assert.All(packed.Take(packed.Count - 1), s => Assert.Equal(128, s.Ids.Length));
        Assert.All(packed, s => Assert.Equal(tokenizer.ClsId, s.Ids[0]));
    }

    private sealed class SimulatedCrashException : Exception;

    private sealed class Progress(Action<PretrainProgress> report) : IProgress<PretrainProgress>
    {
        public void Report(PretrainProgress value)
        {
            if (!value.Resumed)
            {
                report(value);
            }
        }
    }
}
