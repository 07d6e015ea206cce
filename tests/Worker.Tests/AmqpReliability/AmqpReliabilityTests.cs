using System.Diagnostics;
using System.Globalization;
using Dapper;
using Microsoft.Data.Sqlite;
using Triage.Worker.Queues;
using Triage.Worker.Tests.Fakes;
using Triage.Worker.Tests.Reliability;
using Triage.Worker.Tests.Support;
using Xunit.Abstractions;

namespace Triage.Worker.Tests.AmqpReliability;

/// <summary>
/// The worker as a child process (<c>triage run</c>, <c>Queue:Kind=amqp</c> by <c>TRIAGE_</c> variables) against a
/// real RabbitMQ 3.10 node (quorum queues, AMQP 1.0 plugin, abandon = Released), writing to a real SQLite database,
/// with the tiny parity-a model. One node for the class; each test declares its own queue. Split by concern:
/// <c>.EndToEnd.cs</c>, <c>.KillRestart.cs</c>, <c>.BrokerRestart.cs</c>.
/// </summary>
/// <remarks>In the reliability collection: each test drives a whole worker and a broker, and would otherwise fight
/// the other reliability tests for the same few cores.</remarks>
[Collection(ReliabilityCollection.Name)]
public sealed partial class AmqpReliabilityTests(AmqpBroker broker, ITestOutputHelper output) : IClassFixture<AmqpBroker>
{
    // Deadlines only: every wait ends as soon as its condition holds.
    private static readonly TimeSpan StartDeadline = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan FinishDeadline = TimeSpan.FromMinutes(4);
    private static readonly TimeSpan ExitDeadline = TimeSpan.FromSeconds(60);

    /// <summary>Short texts (3–12 words) so thousands of documents run in seconds on the tiny model.</summary>
    private static OutgoingMessage[] ShortDocuments(int count, int seed) => TestDocuments.Generate(count, seed, minWords: 3, maxWords: 12);

    private WorkerProcess StartWorker(string dataDir, string queue)
    {
        var worker = WorkerProcess.Start(dataDir, ["run"], broker.WorkerEnvironment(queue));
        output.WriteLine($"started worker pid {worker.Id}");
        return worker;
    }

    /// <summary>Waits until the results table satisfies <paramref name="done"/>; fails at once (with the worker's
    /// log) if the worker exits first.</summary>
    private static async Task<int> WaitForRowsAsync(string dataDir, WorkerProcess worker, Func<int, bool> done, TimeSpan deadline, string what)
    {
        var state = await Eventually.ReturnsAsync(
            async () => (Rows: await CountRowsAsync(dataDir), Exited: worker.HasExited),
            s => done(s.Rows) || s.Exited,
            deadline,
            what);
        Assert.False(state.Exited && !done(state.Rows), $"the worker exited before {what}\n{worker}");
        return state.Rows;
    }

    /// <summary>SIGKILL: no shutdown, nothing settled, the TCP connection dropped by the kernel.</summary>
    private static async Task KillAsync(WorkerProcess worker)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-KILL", worker.Id.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        await kill.WaitForExitAsync();
        Assert.True(kill.ExitCode == 0, $"kill -KILL {worker.Id} failed");
        Assert.True(await worker.WaitForExitAsync(ExitDeadline), $"the worker survived SIGKILL\n{worker}");
    }

    /// <summary>SIGTERM and a clean exit (0) within the deadline.</summary>
    private static async Task StopAsync(WorkerProcess worker)
    {
        await worker.TerminateAsync();
        Assert.True(await worker.WaitForExitAsync(ExitDeadline), $"the worker did not exit after SIGTERM\n{worker}");
        Assert.True(worker.ExitCode == 0, worker.ToString());
    }

    /// <summary>The worker's warnings and errors go to the test output (a reconnect explains itself there); the broker
    /// password never appears in its log, not even inside an exception from a failed connect.</summary>
    private void AssertLogIsClean(WorkerProcess worker)
    {
        var lines = worker.Log.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].StartsWith("warn:", StringComparison.Ordinal) || lines[i].StartsWith("fail:", StringComparison.Ordinal) || lines[i].StartsWith("crit:", StringComparison.Ordinal))
            {
                output.WriteLine($"{lines[i].TrimEnd()} {(i + 1 < lines.Length ? lines[i + 1].Trim() : string.Empty)}");
            }
        }

        Assert.DoesNotContain(broker.Password, worker.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("crit:", worker.Log, StringComparison.Ordinal);
    }

    /// <summary>The results table is exactly the expected documents: each present once (the table's key is
    /// (document id, model version), so a second row for a document is impossible; a missing or stray one is not).</summary>
    private async Task<IReadOnlyList<ResultRow>> AssertExactlyOneRowPerDocumentAsync(string dataDir, IEnumerable<string> documentIds)
    {
        var rows = await ReadRowsAsync(dataDir);
        var expected = documentIds.Order(StringComparer.Ordinal).ToList();
        var stored = rows.Select(r => r.DocumentId).Order(StringComparer.Ordinal).ToList();
        var missing = expected.Except(stored).ToList();
        var extra = stored.Except(expected).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0, $"missing {missing.Count} (e.g. {string.Join(", ", missing.Take(5))}), unexpected {extra.Count} (e.g. {string.Join(", ", extra.Take(5))})");
        Assert.Equal(expected, stored); // also: no document id twice
        Assert.All(rows, r => Assert.Equal(TestModel.Version, r.ModelVersion));
        var redelivered = rows.Count(r => r.Attempt > 1);
        output.WriteLine($"{rows.Count} rows, {redelivered} of them written on a redelivery (at-least-once, upserted in place)");
        return rows;
    }

    /// <summary>Nothing left on the queue: a receive gets nothing, and the broker's own count reaches 0 (it refreshes
    /// that figure every few seconds, hence the deadline).</summary>
    private async Task AssertQueueEmptyAsync(string queue)
    {
        Assert.Empty(await broker.PeekAsync(queue, TimeSpan.FromSeconds(2)));
        await Eventually.ReturnsAsync(() => broker.MessageCountAsync(queue), count => count == 0, TimeSpan.FromSeconds(60), $"rabbitmqctl list_queues to show {queue} empty");
    }

    private static async Task<int> CountRowsAsync(string dataDir) => (await ReadRowsAsync(dataDir)).Count;

    /// <summary>The results table read directly, read-only, beside a running worker (SQLite WAL); empty before the
    /// worker has created it.</summary>
    private static async Task<IReadOnlyList<ResultRow>> ReadRowsAsync(string dataDir)
    {
        var path = Path.Combine(dataDir, "triage.db");
        if (!File.Exists(path))
        {
            return [];
        }

        var connectionString = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString();
        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync();
        var migrated = await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'classification_results';");
        if (migrated == 0)
        {
            return [];
        }

        var rows = await connection.QueryAsync<ResultRow>(
            "SELECT document_id AS DocumentId, model_version AS ModelVersion, message_id AS MessageId, attempt AS Attempt FROM classification_results;");
        return rows.ToList();
    }

    private sealed class ResultRow
    {
        public string DocumentId { get; set; } = string.Empty;

        public string ModelVersion { get; set; } = string.Empty;

        public string? MessageId { get; set; }

        public long Attempt { get; set; }
    }
}
