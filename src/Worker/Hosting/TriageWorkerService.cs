using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Triage.Worker.Pipeline;

namespace Triage.Worker.Hosting;

/// <summary>How <c>run</c> was asked to behave and how it ended.</summary>
internal sealed class WorkerRunState(bool drain, TextWriter output)
{
    public bool Drain { get; } = drain;

    /// <summary>Where the drain summary is printed (the command's stdout).</summary>
    public TextWriter Output { get; } = output;

    public int ExitCode { get; set; }

    public RunSummary? Summary { get; set; }
}

/// <summary>The queue worker as a hosted service: runs the pipeline until SIGTERM, or until drained.</summary>
internal sealed class TriageWorkerService(DocumentPipeline pipeline, WorkerRunState state, IHostApplicationLifetime lifetime, ILogger<TriageWorkerService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Leave StartAsync at once: model loading and migrations must not hold up host start-up (or SIGTERM).
        await Task.Yield();
        try
        {
            state.Summary = await pipeline.RunAsync(state.Drain, stoppingToken).ConfigureAwait(false);
            if (state.Drain)
            {
                await state.Output.WriteLineAsync(state.Summary.Format()).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopped during start-up.
        }
        catch (Exception exception)
        {
            LogMessages.WorkerFailed(logger, exception);
            await state.Output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            state.ExitCode = 1;
        }
        finally
        {
            if (state.Drain || state.ExitCode != 0)
            {
                lifetime.StopApplication();
            }
        }
    }
}

/// <summary>Touches the health file while the worker loop makes progress; removes it at stop.</summary>
internal sealed class HealthFileWriter(WorkerHealth health, Microsoft.Extensions.Options.IOptions<HealthOptions> options, TimeProvider time, ILogger<HealthFileWriter> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        using var timer = new PeriodicTimer(settings.Interval, time);
        try
        {
            do
            {
                if (health.IsHealthy(settings.MaxAge))
                {
                    Touch(settings.FilePath);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            File.Delete(options.Value.FilePath);
        }
        catch (IOException)
        {
            // A stale file ages out; the probe then fails as it should.
        }
    }

    private void Touch(string path)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            File.WriteAllText(path, time.GetUtcNow().ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            LogMessages.HealthFileFailed(logger, exception, path);
        }
    }
}
