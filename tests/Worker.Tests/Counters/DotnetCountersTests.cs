using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Triage.Worker.Cli;
using Triage.Worker.Metrics;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Counters;

/// <summary>
/// What <c>dotnet-counters monitor -n triage --counters Triage</c> does, done by hand (dotnet-counters itself is not on
/// our package registry): start the worker as its own process, attach over the diagnostics IPC socket with
/// <see cref="DiagnosticsClient"/>, enable the runtime's <c>System.Diagnostics.Metrics</c> EventSource for the
/// <c>Triage</c> meter with the arguments dotnet-counters passes, and read the published values with TraceEvent.
/// </summary>
public sealed class DotnetCountersTests
{
    private const string MetricsProvider = "System.Diagnostics.Metrics";
    private const long TimeSeriesValuesKeyword = 0x2; // MetricsEventSource.Keywords.TimeSeriesValues, as dotnet-counters asks

    [Fact]
    public async Task An_out_of_process_reader_receives_every_Triage_instrument_with_sane_values()
    {
        using var data = new TempDirectory();
        var samples = Directory.GetFiles(Path.Combine(SharedAssets.RepositoryRoot, "samples"));
        using var worker = StartWorker(data.Path);
        EventPipeSession? session = null;
        EventPipeEventSource? source = null;
        Task? reading = null;
        var seen = new ConcurrentDictionary<string, ConcurrentQueue<Published>>(StringComparer.Ordinal);
        try
        {
            await Eventually.ReturnsAsync(
                () => Task.FromResult(worker.HasExited || DiagnosticsClient.GetPublishedProcesses().Contains(worker.Id)), ready => ready, TimeSpan.FromSeconds(30), "the worker's diagnostics socket");
            Assert.False(worker.HasExited, "the worker exited at start");

            // Attach only once the worker runs its loop (it writes the health file then): a session started while the
            // runtime is still starting up was seen to block both processes.
            await Eventually.ReturnsAsync(
                () => Task.FromResult(worker.HasExited || File.Exists(Path.Combine(data.Path, "health"))), ready => ready, TimeSpan.FromSeconds(60), "the worker's health file");
            Assert.False(worker.HasExited, "the worker exited at start");

            var sessionId = Guid.NewGuid().ToString();
            var provider = new EventPipeProvider(MetricsProvider, EventLevel.Informational, TimeSeriesValuesKeyword, new Dictionary<string, string>
            {
                ["SessionId"] = sessionId,
                ["Metrics"] = TriageMetrics.MeterName,
                ["RefreshInterval"] = "1",
                ["MaxTimeSeries"] = "1000",
                ["MaxHistograms"] = "20",
                ["ClientId"] = Guid.NewGuid().ToString(),
            });
            var starting = Task.Run(() => new DiagnosticsClient(worker.Id).StartEventPipeSession([provider], requestRundown: false));
            if (await Task.WhenAny(starting, Task.Delay(TimeSpan.FromSeconds(60))) != starting)
            {
                Assert.Fail("Starting the EventPipe session did not return within 60 s.");
            }

            session = await starting;
            source = new EventPipeEventSource(session.EventStream);
            source.Dynamic.All += e =>
            {
                // Value events only (BeginInstrumentReporting etc. announce an instrument without a value).
                if (e.ProviderName != MetricsProvider || e.PayloadByName("sessionId") as string != sessionId || e.PayloadByName("meterName") as string != TriageMetrics.MeterName
                    || !e.EventName.EndsWith("ValuePublished", StringComparison.Ordinal))
                {
                    return;
                }

                var published = new Published(e.EventName, (string)e.PayloadByName("unit"), (string)e.PayloadByName("tags"),
                    Number(e, "rate"), Number(e, "value"), Number(e, "lastValue"), (string?)e.PayloadByName("quantiles"), Number(e, "count"));
                seen.GetOrAdd((string)e.PayloadByName("instrumentName"), _ => new ConcurrentQueue<Published>()).Enqueue(published);
            };
            reading = Task.Run(source.Process);

            // Send the documents only now, so every one of them is counted by this session.
            await WorkerHost.SendAsync(data.Path, [.. samples.Select(f => EnqueueCommand.Wrap(f, 256 * 1024))]);
            double Processed() => seen.TryGetValue("triage.documents.processed", out var q) ? q.Sum(p => p.Rate ?? 0) : 0;
            string[] expected =
            [
                "triage.documents.processed", "triage.tokens.input", "triage.tokens.attended", "triage.batch.size", "triage.batch.tokens",
                "triage.batch.fill_ratio", "triage.inference.duration", "messaging.process.duration", "triage.queue.lag", "triage.model.info", "triage.messages.in_flight",
            ];
            await Eventually.ReturnsAsync(
                () => Task.FromResult((Processed(), expected.Count(seen.ContainsKey))), s => s.Item1 >= samples.Length && s.Item2 == expected.Length,
                TimeSpan.FromSeconds(90), "every instrument and all documents counted");

            Assert.Equal(samples.Length, Processed());
            Assert.All(seen["triage.documents.processed"], p => Assert.Equal(("CounterRateValuePublished", "{document}"), (p.Event, p.Unit)));
            Assert.Contains(seen["triage.documents.processed"], p => p.Tags.StartsWith("triage.label=", StringComparison.Ordinal) && p.Rate > 0);
            var tokensIn = seen["triage.tokens.input"].Sum(p => p.Rate ?? 0);
            var attended = seen["triage.tokens.attended"].Sum(p => p.Rate ?? 0);
            Assert.True(tokensIn > samples.Length && attended > 0 && attended <= tokensIn + 1e-6, $"tokens in {tokensIn}, attended {attended}");

            var model = seen["triage.model.info"].Last();
            Assert.Equal(("GaugeValuePublished", 1.0), (model.Event, model.LastValue));
            Assert.Contains($"triage.model.version={TestModel.Version}", model.Tags, StringComparison.Ordinal);
            Assert.Contains("triage.model.method=dense", model.Tags, StringComparison.Ordinal);
            Assert.All(seen["triage.messages.in_flight"], p => Assert.True(p.Event == "UpDownCounterRateValuePublished" && p.Value >= 0 && p.Value <= samples.Length));

            var batches = seen["triage.batch.size"].Where(p => p.Count > 0).ToList();
            Assert.NotEmpty(batches);
            Assert.All(batches, p => Assert.True(p.Event == "HistogramValuePublished" && Quantiles(p).All(q => q is >= 1 and <= 64), p.ToString()));
            Assert.All(seen["triage.batch.fill_ratio"].Where(p => p.Count > 0), p => Assert.True(Quantiles(p).All(q => q is > 0 and <= 1), p.ToString()));
            Assert.All(seen["triage.inference.duration"].Where(p => p.Count > 0), p => Assert.True(p.Unit == "s" && Quantiles(p).All(q => q is > 0 and < 60), p.ToString()));
            Assert.Contains(seen["messaging.process.duration"], p => p.Tags.Contains("messaging.operation.name=", StringComparison.Ordinal) && p.Count > 0);
        }
        finally
        {
            // Ending the worker ends the event stream, so the reader returns; stopping the session first can block
            // when the target is busy, and disposing a source that is still reading can too.
            if (!worker.HasExited)
            {
                worker.Kill(entireProcessTree: true);
            }

            await worker.WaitForExitAsync();
            if (reading is not null)
            {
                await Task.WhenAny(reading, Task.Delay(TimeSpan.FromSeconds(10)));
            }

            if (reading?.IsCompleted != false)
            {
                source?.Dispose();
                session?.Dispose();
            }
        }
    }

    private static Process StartWorker(string dataDir)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "triage.dll"), "--data-dir", dataDir, "run" })
        {
            start.ArgumentList.Add(arg);
        }

        // Settings by environment variable, as a container or systemd unit gives them.
        start.Environment["TRIAGE_Model__Path"] = TestModel.SharedPath;
        start.Environment["TRIAGE_Model__Threads"] = "1";
        start.Environment["TRIAGE_Logging__LogLevel__Default"] = "Warning";
        start.Environment["TRIAGE_Worker__ReceiveWait"] = "00:00:00.100";
        start.Environment["TRIAGE_Queue__Embedded__PollInterval"] = "00:00:00.020";
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Rates and values come as invariant-culture strings; histogram counts as integers.</summary>
    private static double? Number(TraceEvent e, string name) => e.PayloadByName(name) switch
    {
        string text when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) => value,
        int or long or double => Convert.ToDouble(e.PayloadByName(name), CultureInfo.InvariantCulture),
        _ => null,
    };

    /// <summary><c>0.5=0.25;0.95=0.5;0.99=0.5</c> → the values.</summary>
    private static IEnumerable<double> Quantiles(Published p) =>
        (p.Quantiles ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries).Select(q => double.Parse(q[(q.IndexOf('=', StringComparison.Ordinal) + 1)..], CultureInfo.InvariantCulture));

    private sealed record Published(string Event, string Unit, string Tags, double? Rate, double? Value, double? LastValue, string? Quantiles, double? Count);
}
