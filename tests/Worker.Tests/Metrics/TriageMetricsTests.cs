using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Triage.Worker.Cli;
using Triage.Worker.Metrics;
using Triage.Worker.Queues;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Metrics;

public sealed class TriageMetricsTests
{
    [Fact]
    public async Task A_drained_run_publishes_every_instrument_of_the_Triage_meter()
    {
        using var data = new TempDirectory();
        var samples = Directory.GetFiles(Path.Combine(SharedAssets.RepositoryRoot, "samples"));
        await WorkerHost.SendAsync(data.Path, [.. samples.Select(f => EnqueueCommand.Wrap(f, 256 * 1024)), new OutgoingMessage("bad", "{ not json"u8.ToArray())]);
        using var output = new StringWriter();
        var host = WorkerHost.Build(data.Path, WorkerHost.Settings(), output);
        var metrics = host.Services.GetRequiredService<TriageMetrics>();

        var measurements = new ConcurrentBag<(string Name, string? Unit, double Value, KeyValuePair<string, object?>[] Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, metrics.Meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => measurements.Add((i.Name, i.Unit, v, tags.ToArray())));
        listener.SetMeasurementEventCallback<int>((i, v, tags, _) => measurements.Add((i.Name, i.Unit, v, tags.ToArray())));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => measurements.Add((i.Name, i.Unit, v, tags.ToArray())));
        listener.Start();

        var run = host.RunAsync();
        await Eventually.ReturnsAsync(
            () =>
            {
                listener.RecordObservableInstruments();
                return Task.FromResult(measurements.Any(m => m.Name == "triage.model.info"));
            },
            seen => seen || run.IsCompleted,
            TimeSpan.FromMinutes(1),
            "triage.model.info while the model is loaded");
        await run.WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Equal("Triage", metrics.Meter.Name);
        double Sum(string name) => measurements.Where(m => m.Name == name).Sum(m => m.Value);
        Assert.Equal(samples.Length, Sum("triage.documents.processed"));
        Assert.Equal(1, Sum("triage.documents.dead_lettered"));
        Assert.Contains(measurements, m => m.Name == "triage.documents.dead_lettered" && m.Tags.Contains(new("triage.dead_letter.reason", "MalformedJson")));
        Assert.True(Sum("triage.tokens.input") > samples.Length * 10);
        Assert.True(Sum("triage.tokens.attended") > 0);
        Assert.Equal(samples.Length, Sum("triage.batch.size"));
        Assert.All(measurements.Where(m => m.Name == "triage.batch.fill_ratio"), m => Assert.InRange(m.Value, 0.01, 1.0));
        Assert.All(measurements.Where(m => m.Name == "triage.batch.tokens"), m => Assert.InRange(m.Value, 1, 16384));
        Assert.Contains(measurements, m => m.Name == "triage.inference.duration" && m.Unit == "s");
        Assert.Equal(samples.Length + 1, measurements.Count(m => m.Name == "messaging.process.duration"));
        Assert.Equal(samples.Length, measurements.Count(m => m.Name == "triage.queue.lag" && m.Value >= 0));
        var info = measurements.First(m => m.Name == "triage.model.info");
        Assert.Equal(1, info.Value);
        Assert.Contains(new KeyValuePair<string, object?>("triage.model.version", TestModel.Version), info.Tags);
        Assert.Contains(new KeyValuePair<string, object?>("triage.model.method", "dense"), info.Tags);
        Assert.Contains(info.Tags, t => t.Key == "triage.model.device");
        Assert.Equal("{document}", measurements.First(m => m.Name == "triage.documents.processed").Unit);
        Assert.Equal("{token}", measurements.First(m => m.Name == "triage.tokens.input").Unit);
    }
}
