using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Triage.Worker.Batching;

/// <summary>
/// Reads items from a channel and yields token-budget batches: a batch goes as soon as it is full, or when its first
/// item has waited <see cref="BatchingOptions.MaxWait"/>, or when the input ends. The clock is a
/// <see cref="TimeProvider"/>, so tests move time instead of sleeping.
/// </summary>
internal sealed class MicroBatcher<T>(ChannelReader<T> input, Func<T, BatchCost> cost, BatchingOptions options, TimeProvider time)
{
    public async IAsyncEnumerable<DocumentBatch<T>> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var builder = new TokenBudgetBatchBuilder<T>(options);
        while (true)
        {
            var ready = new List<DocumentBatch<T>>();
            while (input.TryRead(out var item))
            {
                ready.AddRange(builder.Add(item, cost(item), time.GetUtcNow()));
            }

            ready.AddRange(builder.TakeDue(time.GetUtcNow()));
            foreach (var batch in ready)
            {
                yield return batch;
            }

            if (!await WaitForInputAsync(builder.NextDeadline, cancellationToken).ConfigureAwait(false))
            {
                break;
            }
        }

        foreach (var batch in builder.FlushAll())
        {
            yield return batch;
        }
    }

    /// <summary>Waits for more input or the next deadline; false once the input is complete and empty.</summary>
    private async Task<bool> WaitForInputAsync(DateTimeOffset? deadline, CancellationToken cancellationToken)
    {
        if (deadline is null)
        {
            return await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false);
        }

        var delay = deadline.Value - time.GetUtcNow();
        if (delay <= TimeSpan.Zero)
        {
            return true;
        }

        using var wake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var read = input.WaitToReadAsync(wake.Token).AsTask();
        var timer = Task.Delay(delay, time, wake.Token);
        var first = await Task.WhenAny(read, timer).ConfigureAwait(false);
        await wake.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        if (first == read)
        {
            // The input completed: say so only when nothing is left to read.
            return await read.ConfigureAwait(false) || input.TryPeek(out _);
        }

        return true;
    }
}
