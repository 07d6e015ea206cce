using Triage.Storage.Tests.Fixtures;

namespace Triage.Storage.Tests;

/// <summary>The shared suite on a real PostgreSQL server, a new database per test.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresResultsRepositoryTests(PostgresServerFixture server) : ResultsRepositoryContract
{
    private protected override async Task<StorageOptions> CreateOptionsAsync() =>
        new() { Provider = "postgres", ConnectionString = await server.CreateDatabaseAsync() };
}
