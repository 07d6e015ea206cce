using System.Runtime.InteropServices;

namespace Triage.Worker.Cli;

/// <summary>
/// SIGINT/SIGTERM as a cancellation token for long non-host commands (pretrain, train): the program turns off
/// System.CommandLine's own signal handling so the worker host can shut down in its own time, which would otherwise
/// leave these commands killed mid-step instead of stopping at a step boundary with a checkpoint.
/// </summary>
internal sealed class StopSignal : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly PosixSignalRegistration _interrupt;
    private readonly PosixSignalRegistration _terminate;

    public StopSignal(CancellationToken outer)
    {
        _source = CancellationTokenSource.CreateLinkedTokenSource(outer);
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle);
    }

    public CancellationToken Token => _source.Token;

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
        _source.Dispose();
    }

    private void Handle(PosixSignalContext context)
    {
        context.Cancel = true; // keep the process alive until the current step ends
        Console.Error.WriteLine($"{context.Signal} received: stopping after the current step …");
        _source.Cancel();
    }
}
