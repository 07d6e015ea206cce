using System.Text;
using Triage.Worker.Queues;
using Triage.Worker.Queues.Embedded;
using Triage.Worker.Tests.Fakes;

namespace Triage.Worker.Tests.Queues.Embedded;

/// <summary>A queue file in a temp directory plus a fake clock; opens as many transports on it as a test needs.</summary>
internal sealed class EmbeddedQueueHarness : IAsyncDisposable
{
    private readonly TempDirectory _directory = new("triage-queue");
    private readonly List<IAsyncDisposable> _opened = [];

    public EmbeddedQueueHarness(Action<EmbeddedQueueOptions>? configure = null, TimeProvider? time = null)
    {
        Options = new EmbeddedQueueOptions { Path = _directory.File("queue.db") };
        configure?.Invoke(Options);
        Time = time ?? Clock;
    }

    public EmbeddedQueueOptions Options { get; }

    public FakeTimeProvider Clock { get; } = new();

    public TimeProvider Time { get; }

    public EmbeddedQueueTransport Open()
    {
        var transport = new EmbeddedQueueTransport(Microsoft.Extensions.Options.Options.Create(Options), Time);
        _opened.Add(transport);
        return transport;
    }

    public EmbeddedQueueAdmin Admin()
    {
        var admin = new EmbeddedQueueAdmin(Microsoft.Extensions.Options.Options.Create(Options), Time);
        _opened.Add(new DisposeAdapter(admin));
        return admin;
    }

    public static OutgoingMessage Text(string id, string text = "hello") =>
        new(id, Encoding.UTF8.GetBytes(text)) { ContentType = "text/plain" };

    public async ValueTask DisposeAsync()
    {
        foreach (var item in _opened)
        {
            await item.DisposeAsync();
        }

        _directory.Dispose();
    }

    private sealed class DisposeAdapter(IDisposable inner) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            inner.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
