using Triage.Storage.Migrations;

namespace Triage.Storage.Tests;

public sealed class MigrationScriptsTests
{
    [Fact]
    public void Both_dialects_have_the_same_numbered_migrations_from_one_without_gaps()
    {
        var sqlite = SchemaMigrator.Load("sqlite");
        var postgres = SchemaMigrator.Load("postgres");

        Assert.NotEmpty(sqlite);
        Assert.Equal(sqlite.Select(m => (m.Version, m.Name)), postgres.Select(m => (m.Version, m.Name)));
        Assert.Equal(Enumerable.Range(1, sqlite.Count), sqlite.Select(m => m.Version));
        Assert.All(sqlite.Concat(postgres), m => Assert.False(string.IsNullOrWhiteSpace(m.Sql)));
    }
}
