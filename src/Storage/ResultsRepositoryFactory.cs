using Triage.Storage.Dialects;

namespace Triage.Storage;

/// <summary>Builds the repository for the configured provider.</summary>
internal static class ResultsRepositoryFactory
{
    /// <summary>
    /// Validates <paramref name="options"/> (throwing <see cref="InvalidOperationException"/> with every problem) and
    /// creates the repository. No connection is opened; for SQLite the database's directory is created.
    /// </summary>
    public static IResultsRepository Create(StorageOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();

        SqlDialect dialect = options.IsPostgres
            ? new PostgresDialect(options.ConnectionString)
            : new SqliteDialect(options.ConnectionString);
        return new SqlResultsRepository(dialect, timeProvider ?? TimeProvider.System);
    }

    /// <summary>
    /// <see cref="Create"/>, then <see cref="IResultsRepository.MigrateAsync"/> when
    /// <see cref="StorageOptions.MigrateOnStart"/> is set: what the worker does at start-up.
    /// </summary>
    public static async Task<IResultsRepository> OpenAsync(
        StorageOptions options,
        CancellationToken cancellationToken,
        TimeProvider? timeProvider = null)
    {
        var repository = Create(options, timeProvider);
        try
        {
            if (options.MigrateOnStart)
                await repository.MigrateAsync(cancellationToken).ConfigureAwait(false);
            return repository;
        }
        catch
        {
            await repository.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
