using Triage.Tests.Shared;

namespace Triage.Storage.Tests.Fixtures;

/// <summary>
/// A private PostgreSQL server for the whole test run: Debian's binaries from <c>/usr/lib/postgresql/&lt;highest
/// version&gt;/bin</c> (or <c>$TRIAGE_TEST_PG_BIN</c>), a cluster initialised in a temp dir, bound to 127.0.0.1 on a
/// free port, trust authentication for user <c>triage</c>. As root it runs the server as <c>postgres</c> via
/// <c>runuser</c>, since initdb refuses root. A missing install or a failed start fails the tests; it never skips.
/// </summary>
public sealed class PostgresServerFixture : IAsyncLifetime
{
    public const string NotFoundMessage = PostgresServer.NotFoundMessage;

    private PostgresServer? _server;

    private PostgresServer Server => _server ?? throw new InvalidOperationException("The PostgreSQL fixture has not started.");

    public int Port => Server.Port;

    /// <summary>Major version of the server in use, e.g. "15".</summary>
    public string Version => Server.Version;

    public async Task InitializeAsync() => _server = await PostgresServer.StartNewAsync().ConfigureAwait(false);

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Starts the server again with the same data directory (after <see cref="StopAsync"/>).</summary>
    public Task StartAsync() => Server.StartAsync();

    public Task StopAsync() => Server.StopAsync();

    public string ConnectionString(string database) => Server.ConnectionString(database);

    public Task<string> CreateDatabaseAsync() => Server.CreateDatabaseAsync();
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServerFixture>
{
    public const string Name = "postgres";
}
