using System.Threading.Channels;

namespace Triage.Worker.Batching;

/// <summary>
/// One dedicated thread that owns the model: it takes work items from a channel in order, runs
/// <paramref name="work"/> on each and writes the results on. libtorch state and the model are touched from this
/// thread only; everything before it (parsing, tokenisation) runs on the thread pool.
/// </summary>
internal sealed class InferenceThread<TIn, TOut>(string name, ChannelReader<TIn> input, ChannelWriter<TOut> output, Func<TIn, TOut> work)
{
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the input is complete and every item has been handed on.</summary>
    public Task Completion => _completion.Task;

    public int? ManagedThreadId { get; private set; }

    public void Start()
    {
        var thread = new Thread(Run) { IsBackground = true, Name = name };
        thread.Start();
    }

    private void Run()
    {
        ManagedThreadId = Environment.CurrentManagedThreadId;
        try
        {
            // Blocking on the channel is right here: this thread exists only to run the model.
            while (input.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                while (input.TryRead(out var item))
                {
                    var result = work(item);
                    while (!output.TryWrite(result))
                    {
                        if (!output.WaitToWriteAsync().AsTask().GetAwaiter().GetResult())
                        {
                            throw new InvalidOperationException("The inference output channel was closed early.");
                        }
                    }
                }
            }

            output.TryComplete();
            _completion.TrySetResult();
        }
        catch (Exception exception)
        {
            output.TryComplete(exception);
            _completion.TrySetException(exception);
        }
    }
}
