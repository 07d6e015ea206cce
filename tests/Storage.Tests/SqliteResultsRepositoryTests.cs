using Dapper;
using Microsoft.Data.Sqlite;

namespace Triage.Storage.Tests;

/// <summary>The shared suite on a SQLite file in a directory that does not exist yet.</summary>
public sealed class SqliteResultsRepositoryTests : ResultsRepositoryContract
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "triage-sqlite-" + Guid.NewGuid().ToString("N"));

    private string DatabasePath => Path.Combine(_root, "nested", "dir", "results.db");

    private protected override Task<StorageOptions> CreateOptionsAsync() =>
        Task.FromResult(new StorageOptions { Provider = "sqlite", ConnectionString = $"Data Source={DatabasePath}" });

    private protected override Task CleanupAsync()
    {
        if (Directory.Exists(_root))
            Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Creates_the_missing_directory_and_uses_WAL()
    {
        Assert.True(Directory.Exists(Path.GetDirectoryName(DatabasePath)));
        await Repository.MigrateAsync(CancellationToken.None);

        await using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await connection.OpenAsync();
        Assert.Equal("wal", await connection.ExecuteScalarAsync<string>("PRAGMA journal_mode"));
    }

    [Fact]
    public async Task A_write_lock_held_past_the_busy_timeout_fails_as_transient()
    {
        await Repository.MigrateAsync(CancellationToken.None);
        // Another process holds the write lock; this repository gives up after one second.
        await using var holder = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await holder.OpenAsync();
        await using var held = holder.BeginTransaction(deferred: false);
        var impatient = new StorageOptions { Provider = "sqlite", ConnectionString = $"Data Source={DatabasePath};Default Timeout=1" };
        await using var repository = ResultsRepositoryFactory.Create(impatient);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => repository.UpsertAsync([Result("doc-1")], CancellationToken.None));

        Assert.True(TransientErrors.IsTransient(error), error.ToString());
        await held.RollbackAsync();
        await repository.UpsertAsync([Result("doc-1")], CancellationToken.None);
    }
}
