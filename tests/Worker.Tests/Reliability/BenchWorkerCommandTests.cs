using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Reliability;

/// <summary><c>triage bench-worker</c> on a few BBC News documents with the tiny test model: it runs both passes
/// and prints every figure (no throughput is asserted: this machine's speed is not a test result).</summary>
[Collection(ReliabilityCollection.Name)]
public sealed class BenchWorkerCommandTests
{
    [Fact]
    public async Task Bench_worker_prints_raw_and_end_to_end_throughput_their_ratio_and_the_batch_fill_ratio()
    {
        var data = Path.Combine(SharedAssets.Root, "assets", "datasets", "bbc-news", "bbc-news.jsonl");
        var result = await CliHarness.RunAsync(
            "bench-worker", "--data", data, "--split", "test", "--limit", "20", "--model", TestModel.SharedPath, "--repetitions", "1", "--set", "Model:Threads=1");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("bench-worker: 20 documents (the test split of bbc-news.jsonl)", result.Output, StringComparison.Ordinal);
        Assert.Matches(@"raw model \(pre-tokenised, no queue\): +\d+\.\d docs/s", result.Output);
        Assert.Matches(@"end-to-end worker \(queue → SQLite\): +\d+\.\d docs/s", result.Output);
        Assert.Matches(@"ratio end-to-end / raw model: \d+\.\d ?%", result.Output);
        Assert.Matches(@"mean batch fill ratio: worker [01]\.\d{3} over [1-9]\d* batches \(Triage meter\)", result.Output);
        Assert.Contains("repetition 1/1: end to end", result.Error, StringComparison.Ordinal);
    }
}
