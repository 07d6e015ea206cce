using Npgsql;
using Triage.Storage.Tests.Fixtures;

namespace Triage.Storage.Tests;

/// <summary>
/// The server goes away under a repository with warm pooled connections and comes back on the same data directory:
/// failures during the outage must read as transient, and the repository must work again without being rebuilt.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresRestartTests(PostgresServerFixture server) : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 4, 5, 6, 7, TimeSpan.Zero);
    private const int PooledConnections = 4;
    private const string ApplicationName = "triage-restart-test";
    private IResultsRepository _repository = null!;
    private string _connectionString = "";

    public async Task InitializeAsync()
    {
        _connectionString = await server.CreateDatabaseAsync();
        // Tagged so the test can count exactly this repository's server connections.
        var tagged = new NpgsqlConnectionStringBuilder(_connectionString) { ApplicationName = ApplicationName }.ConnectionString;
        var options = new StorageOptions { Provider = "postgres", ConnectionString = tagged };
        _repository = await ResultsRepositoryFactory.OpenAsync(options, CancellationToken.None);
    }

    public async Task DisposeAsync() => await _repository.DisposeAsync();

    [Fact]
    public async Task Failures_during_a_restart_are_transient_and_the_repository_recovers()
    {
        await _repository.UpsertAsync([Result("before")], CancellationToken.None);
        await FillPoolAsync();
        Assert.Equal(PooledConnections, await CountRepositoryBackendsAsync());

        await server.StopAsync();
        try
        {
            // First call: a dead pooled connection (Npgsql then drops the whole pool); second: nobody listening.
            // Both must say "retry".
            for (var i = 0; i < 2; i++)
            {
                var error = await Assert.ThrowsAnyAsync<Exception>(() => _repository.UpsertAsync([Result("during")], CancellationToken.None));
                Assert.True(TransientErrors.IsTransient(error), $"call {i + 1} during the outage: {error}");
            }
        }
        finally
        {
            await server.StartAsync();
        }

        // The very first call after the restart succeeds: none of the other dead pooled connections is handed out.
        await _repository.UpsertAsync([Result("after")], CancellationToken.None);
        Assert.NotNull(await _repository.GetResultAsync("before", "v1", CancellationToken.None));
        Assert.NotNull(await _repository.GetResultAsync("after", "v1", CancellationToken.None));
        Assert.Null(await _repository.GetResultAsync("during", "v1", CancellationToken.None));
    }

    /// <summary>
    /// Leaves <see cref="PooledConnections"/> idle connections in the repository's pool, all of which the restart
    /// will kill: a table lock held elsewhere makes that many calls wait side by side, each on its own connection.
    /// </summary>
    private async Task FillPoolAsync()
    {
        await using var locker = await OpenAdminAsync();
        await using var transaction = await locker.BeginTransactionAsync();
        await using (var lockTable = new NpgsqlCommand("LOCK TABLE documents IN ACCESS EXCLUSIVE MODE", locker, transaction))
            await lockTable.ExecuteNonQueryAsync();

        var calls = Enumerable.Range(0, PooledConnections)
            .Select(_ => Task.Run(() => _repository.CountDocumentsAsync(CancellationToken.None)))
            .ToList();
        // Polled from another connection in autocommit: inside a transaction pg_stat_activity is a frozen snapshot.
        await using var observer = await OpenAdminAsync();
        await using (var waiting = new NpgsqlCommand(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", observer))
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while ((long)(await waiting.ExecuteScalarAsync())! < PooledConnections)
            {
                Assert.True(DateTime.UtcNow < deadline, "the repository's calls did not reach the lock within 10 s");
                await Task.Yield();
            }
        }

        await transaction.RollbackAsync();
        await Task.WhenAll(calls);
    }

    private async Task<long> CountRepositoryBackendsAsync()
    {
        await using var connection = await OpenAdminAsync();
        await using var command = new NpgsqlCommand(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = @name", connection);
        command.Parameters.AddWithValue("name", ApplicationName);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private async Task<NpgsqlConnection> OpenAdminAsync()
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_connectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static ClassificationResult Result(string documentId) =>
        new(documentId, "v1", "invoice", 0.9, new Dictionary<string, double> { ["invoice"] = 0.9 }, "dense", 10, 100, T0, null, 1);
}
