using Triage.Classifier.Checkpoints;
using Triage.Classifier.Evaluation;
using Triage.Classifier.Models;
using Triage.Classifier.Tests.Support;
using Triage.Classifier.Tokenization;
using Triage.Classifier.Training;

namespace Triage.Classifier.Tests;

[Collection(GlobalRngCollection.Name)]
public sealed class TrainingTests
{
    [Fact]
    public void Short_fine_tune_on_real_news_lowers_the_loss_and_saves_a_loadable_calibrated_model()
    {
        using var dir = new TempDirectory();
        // 60 training and 15 validation BBC articles, 128 tokens, a tiny from-scratch encoder: seconds on 2 cores.
        NewsSubset.Write(dir.File("data.jsonl"), perLabel: 15);
        Assert.Equal(75, File.ReadLines(dir.File("data.jsonl")).Count());
        var losses = new List<double>();
        var request = new TrainRequest
        {
            DataPath = dir.File("data.jsonl"),
            OutputDirectory = dir.File("model"),
            ScratchConfig = new BertConfig { HiddenSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 64, MaxPositionEmbeddings = 128 },
            VocabPath = SharedAssets.BertBaseVocab,
            LongDocument = new LongDocumentPolicy { MaxTokens = 128 },
            Options = new FineTuneOptions { LearningRate = 3e-3, Epochs = 3, Patience = 3, BatchSize = 8, MaxBatchTokens = 8 * 128, WarmupFraction = 0.1 },
            ModelVersion = "test-1",
            Threads = 1,
        };
        var progress = new SynchronousProgress<TrainingProgress>(p =>
        {
            if (!double.IsNaN(p.Loss))
            {
                losses.Add(p.Loss);
            }
        });
        var outcome = ModelTrainer.Run(request, progress, CancellationToken.None);
        Assert.Equal(60, outcome.TrainDocuments);
        Assert.Equal(15, outcome.ValidationDocuments);
        Assert.True(losses.TakeLast(8).Average() < losses.Take(8).Average(), $"loss did not go down: first {losses.Take(8).Average():F3}, last {losses.TakeLast(8).Average():F3}");
        Assert.True(outcome.FineTune.Temperature > 0);

        using var model = TriageModel.Load(dir.File("model"));
        Assert.Equal("test-1", model.Manifest.ModelVersion);
        Assert.Equal(outcome.FineTune.Temperature, model.Manifest.Temperature);
        Assert.Equal(64, model.Manifest.TrainingDataSha256!.Length);
        var validation = LabelledDataset.Load(dir.File("data.jsonl")).Split("validation");
        var result = ModelEvaluator.Evaluate(model, validation, 4096, 1, CancellationToken.None);
        Assert.Equal(15, result.Report.Documents);
        Assert.InRange(result.Report.Ece, 0, 1);
        Assert.True(result.DocsPerSecond > 0 && result.PeakMemoryBytes > 0);
    }

    [Fact]
    public void Missing_validation_split_is_carved_stratified_and_seeded()
    {
        using var dir = new TempDirectory();
        var lines = Enumerable.Range(0, 50).Select(i => $"{{\"id\": \"d{i}\", \"label\": \"{(i % 5 == 0 ? "rare" : "common")}\", \"text\": \"t\"}}");
        File.WriteAllLines(dir.File("d.jsonl"), lines);
        var a = LabelledDataset.Load(dir.File("d.jsonl"), seed: 7);
        var b = LabelledDataset.Load(dir.File("d.jsonl"), seed: 7);
        var validation = a.Split("validation");
        Assert.Equal(10, validation.Count);
        Assert.Equal(2, validation.Count(d => d.Label == "rare"));
        Assert.Equal(validation.Select(d => d.Id), b.Split("validation").Select(d => d.Id));
    }

    [Fact]
    public void Evenly_spaced_limit_covers_every_label_of_a_sorted_split()
    {
        var sorted = Enumerable.Range(0, 100).Select(i => new LabelledDocument($"d{i}", "test", $"label{i / 25}", "text")).ToList();
        var first = sorted.Take(8).Select(d => d.Label).Distinct().Count();
        var spaced = LabelledDataset.EvenlySpaced(sorted, 8);
        Assert.Equal(1, first);
        Assert.Equal(8, spaced.Count);
        Assert.Equal(4, spaced.Select(d => d.Label).Distinct().Count());
        Assert.All(spaced.GroupBy(d => d.Label), g => Assert.Equal(2, g.Count()));
        Assert.Same(sorted, LabelledDataset.EvenlySpaced(sorted, null));
        Assert.Same(sorted, LabelledDataset.EvenlySpaced(sorted, 500));
    }

    [Fact]
    public void Csv_with_named_columns_and_quoted_newlines_loads()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("d.csv"), "label,text,id\nsport,\"A match, \"\"late\"\"\nwinner\",1\ntech,chips,2\n");
        var data = LabelledDataset.Load(dir.File("d.csv"));
        Assert.Equal(2, data.Documents.Count);
        Assert.Equal("A match, \"late\"\nwinner", data.Documents.Single(d => d.Id == "1").Text);
    }

    [Fact]
    public void Report_computes_f1_confusion_and_ece()
    {
        var report = ClassificationReport.Compute(["a", "b"], [0, 0, 1, 1], [[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]]);
        Assert.Equal(0.75, report.Accuracy, 6);
        Assert.Equal(new[] { 1, 1 }, report.ConfusionMatrix[0]);
        Assert.Equal(new[] { 0, 2 }, report.ConfusionMatrix[1]);
        Assert.Equal(0.5, report.PerClass[0].Recall, 6);
        Assert.Equal(((2.0 / 3) + 0.8) / 2, report.MacroF1, 6);

        // One document per bin (confidences 0.9 ✓, 0.6 ✗, 0.8 ✓, 0.7 ✓): ECE = (0.1 + 0.6 + 0.2 + 0.3) / 4.
        Assert.Equal(0.3, report.Ece, 9);
        Assert.Equal(ClassificationReport.EceBins, report.ReliabilityBins.Count);
        Assert.Equal(4, report.ReliabilityBins.Sum(b => b.Count));
        var wrong = report.ReliabilityBins.Single(b => b.Count == 1 && b.Accuracy == 0);
        Assert.Equal(0.6, wrong.Confidence, 9);
        Assert.InRange(0.6, wrong.Lower, wrong.Upper);
    }

    [Fact]
    public void Temperature_scaling_softens_overconfident_logits()
    {
        // Confident logits that are right only 60% of the time: the best temperature is above 1.
        var logits = Enumerable.Range(0, 100).Select(i => new[] { 5.0, 0.0 }).ToList();
        var truth = Enumerable.Range(0, 100).Select(i => i < 60 ? 0 : 1).ToList();
        var t = TemperatureScaling.Fit(logits, truth);
        Assert.True(t > 5, $"temperature {t}");
        Assert.Equal(0.6, TemperatureScaling.Softmax([5.0, 0.0], t)[0], 2);
    }
}

public sealed class LinearBaselineTests
{
    [Fact]
    public void Tfidf_logistic_regression_learns_separable_topics()
    {
        string[] sport = ["the match ended with a late goal", "the striker scored twice in the cup final", "the coach praised the team after the win"];
        string[] tech = ["the new chip doubles battery life", "broadband speeds rise as fibre rolls out", "the software update fixes a security flaw"];
        var train = sport.Select((t, i) => new LabelledDocument($"s{i}", "train", "sport", t))
            .Concat(tech.Select((t, i) => new LabelledDocument($"t{i}", "train", "tech", t))).ToList();
        var model = LinearBaseline.Fit(train, ["sport", "tech"], new LinearBaselineOptions { MinDocumentFrequency = 1, Iterations = 200 });
        var probabilities = model.PredictProbabilities(["a late goal won the cup", "a security flaw in the chip"]);
        Assert.True(probabilities[0][0] > 0.5);
        Assert.True(probabilities[1][1] > 0.5);
    }
}
