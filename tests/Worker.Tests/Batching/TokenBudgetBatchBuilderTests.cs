using System.Threading.Channels;
using Triage.Classifier.Inference;
using Triage.Classifier.Models;
using Triage.Worker.Batching;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Batching;

public sealed class TokenBudgetBatchBuilderTests
{
    private static readonly DateTimeOffset T0 = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static List<PreparedDocument> PrepareMixedLengths(int count)
    {
        using var model = TriageModel.Load(TestModel.SharedPath);
        var classifier = new DocumentClassifier(model);
        var random = new Random(7);
        var words = "the market rallied as the striker scored while ministers debated new chips for phones".Split(' ');
        return Enumerable.Range(0, count)
            .Select(_ => classifier.Prepare(string.Join(' ', Enumerable.Range(0, random.Next(3, 700)).Select(_ => words[random.Next(words.Length)]))))
            .ToList();
    }

    private static BatchCost Cost(PreparedDocument d) => new(d.Windows.Count, d.LongestWindow, d.InputTokens);

    [Fact]
    public void Batches_respect_the_padded_token_budget_and_bucketing_keeps_padding_low()
    {
        var documents = PrepareMixedLengths(300);
        var builder = new TokenBudgetBatchBuilder<PreparedDocument>(maxBatchTokens: 4096, maxBatchDocuments: 64, maxWait: TimeSpan.FromMilliseconds(50));
        var batches = documents.SelectMany(d => builder.Add(d, Cost(d), T0)).ToList();
        batches.AddRange(builder.FlushAll());

        Assert.Equal(documents.Count, batches.Sum(b => b.Items.Count));
        Assert.All(batches, b =>
        {
            Assert.True(b.PaddedTokens <= 4096, $"padded {b.PaddedTokens}");
            Assert.True(b.Items.Count <= 64);
            Assert.Equal(b.Items.Max(d => d.LongestWindow), b.LongestWindow);
            Assert.Equal(b.Items.Sum(d => d.InputTokens), b.Tokens);
        });

        // Length buckets are powers of two, so a batch is never more than half padding; overall much less.
        var fill = batches.Sum(b => (double)b.Tokens) / batches.Sum(b => (double)b.PaddedTokens);
        Assert.True(fill > 0.75, $"overall fill ratio {fill:P1}");
        Assert.All(batches, b => Assert.True(b.FillRatio > 0.5, $"fill {b.FillRatio:P1}"));
    }

    [Fact]
    public void A_document_over_the_budget_runs_alone_and_the_count_cap_holds()
    {
        var builder = new TokenBudgetBatchBuilder<string>(maxBatchTokens: 1024, maxBatchDocuments: 3, maxWait: TimeSpan.FromSeconds(1));
        var alone = builder.Add("huge", new BatchCost(4, 512, 2048), T0);
        Assert.True(Assert.Single(alone).OverBudget);
        Assert.Empty(builder.Add("a", new BatchCost(1, 20, 20), T0));
        Assert.Empty(builder.Add("b", new BatchCost(1, 20, 20), T0));
        var full = Assert.Single(builder.Add("c", new BatchCost(1, 20, 20), T0));
        Assert.Equal(["a", "b", "c"], full.Items);
        Assert.Equal(0, builder.PendingCount);
    }

    [Fact]
    public void A_batch_is_released_when_its_first_document_has_waited_max_wait()
    {
        var builder = new TokenBudgetBatchBuilder<string>(16384, 64, TimeSpan.FromMilliseconds(50));
        builder.Add("first", new BatchCost(1, 100, 100), T0);
        builder.Add("second", new BatchCost(1, 90, 90), T0.AddMilliseconds(30));
        Assert.Empty(builder.TakeDue(T0.AddMilliseconds(49)));
        Assert.Equal(T0.AddMilliseconds(50), builder.NextDeadline);
        var due = Assert.Single(builder.TakeDue(T0.AddMilliseconds(50)));
        Assert.Equal(["first", "second"], due.Items);
        Assert.Null(builder.NextDeadline);
    }

    [Fact]
    public async Task Micro_batcher_flushes_a_trickle_when_the_fake_clock_passes_max_wait()
    {
        var time = new FakeTimeProvider();
        var input = Channel.CreateUnbounded<string>();
        var batcher = new MicroBatcher<string>(input.Reader, _ => new BatchCost(1, 10, 10), new BatchingOptions { MaxWait = TimeSpan.FromMilliseconds(50) }, time);
        await using var batches = batcher.ReadAllAsync().GetAsyncEnumerator();
        input.Writer.TryWrite("lonely");
        var next = batches.MoveNextAsync().AsTask();

        // The clock has not moved: the batch must wait. Advance until the batcher's timer fires.
        await Eventually.ReturnsAsync(
            () =>
            {
                time.Advance(TimeSpan.FromMilliseconds(10));
                return Task.FromResult(next.IsCompleted);
            },
            done => done,
            TimeSpan.FromSeconds(10),
            "the max-wait flush");
        Assert.True(await next);
        Assert.Equal(["lonely"], batches.Current.Items);
        Assert.True(time.GetUtcNow() >= new DateTimeOffset(2025, 1, 1, 12, 0, 0, TimeSpan.Zero).AddMilliseconds(50));

        input.Writer.Complete();
        Assert.False(await batches.MoveNextAsync());
    }

    [Fact]
    public async Task Inference_thread_runs_every_batch_on_one_dedicated_thread()
    {
        var input = Channel.CreateUnbounded<int>();
        var output = Channel.CreateUnbounded<int>();
        var threads = new HashSet<int>();
        var thread = new InferenceThread<int, int>("test-inference", input.Reader, output.Writer, x =>
        {
            threads.Add(Environment.CurrentManagedThreadId);
            return x * 2;
        });
        thread.Start();
        for (var i = 0; i < 50; i++)
        {
            input.Writer.TryWrite(i);
        }

        input.Writer.Complete();
        await thread.Completion.WaitAsync(TimeSpan.FromSeconds(30));
        var results = new List<int>();
        await foreach (var r in output.Reader.ReadAllAsync())
        {
            results.Add(r);
        }

        Assert.Equal(Enumerable.Range(0, 50).Select(i => i * 2), results);
        Assert.Equal(thread.ManagedThreadId, Assert.Single(threads));
        Assert.NotEqual(Environment.CurrentManagedThreadId, thread.ManagedThreadId);
    }
}
