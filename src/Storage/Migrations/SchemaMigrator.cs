using System.Globalization;
using System.Reflection;
using Dapper;
using Triage.Storage.Dialects;

namespace Triage.Storage.Migrations;

/// <summary>One numbered script, <c>Migrations/&lt;dialect&gt;/NNNN_name.sql</c>.</summary>
internal sealed record Migration(int Version, string Name, string Sql);

/// <summary>
/// Applies the embedded migration scripts of a dialect in version order. Each runs in its own transaction that also
/// holds the migration lock and re-reads <c>schema_migrations</c>, so two processes starting at once apply each
/// version exactly once and a second run applies nothing.
/// </summary>
internal sealed class SchemaMigrator(SqlDialect dialect, TimeProvider timeProvider)
{
    private const string ResourcePrefix = "Triage.Storage.Migrations.";

    public async Task<MigrationResult> MigrateAsync(CancellationToken cancellationToken)
    {
        var migrations = Load(dialect.Name);
        var applied = new List<int>();
        var connection = await dialect.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            foreach (var migration in migrations)
            {
                var transaction = await dialect.BeginMigrationAsync(connection, cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    await connection.ExecuteAsync(new CommandDefinition(
                        dialect.CreateMigrationsTableSql, transaction: transaction, cancellationToken: cancellationToken))
                        .ConfigureAwait(false);

                    // Read under the lock: another process may have applied it while we waited.
                    var done = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                        "SELECT COUNT(*) FROM schema_migrations WHERE version = @Version",
                        new { migration.Version },
                        transaction,
                        cancellationToken: cancellationToken)).ConfigureAwait(false);
                    if (done == 0)
                    {
                        await connection.ExecuteAsync(new CommandDefinition(
                            migration.Sql, transaction: transaction, cancellationToken: cancellationToken))
                            .ConfigureAwait(false);
                        await connection.ExecuteAsync(new CommandDefinition(
                            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@Version, @Name, @AppliedAt)",
                            new { migration.Version, migration.Name, AppliedAt = dialect.ToDbTimestamp(timeProvider.GetUtcNow()) },
                            transaction,
                            cancellationToken: cancellationToken)).ConfigureAwait(false);
                        applied.Add(migration.Version);
                    }

                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }
            }

            // A newer binary may have applied versions this one does not know; report what the database says.
            var schemaVersion = await connection.ExecuteScalarAsync<int>(new CommandDefinition(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", cancellationToken: cancellationToken))
                .ConfigureAwait(false);
            return new MigrationResult(schemaVersion, applied);
        }
    }

    /// <summary>The scripts of one dialect, by version; fails on a malformed name or a duplicate version.</summary>
    internal static IReadOnlyList<Migration> Load(string dialectName)
    {
        var assembly = typeof(SchemaMigrator).Assembly;
        var prefix = ResourcePrefix + dialectName + ".";
        var migrations = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            var fileName = resource[prefix.Length..];
            var underscore = fileName.IndexOf('_', StringComparison.Ordinal);
            if (underscore <= 0
                || !fileName.EndsWith(".sql", StringComparison.Ordinal)
                || !int.TryParse(fileName.AsSpan(0, underscore), NumberStyles.None, CultureInfo.InvariantCulture, out var version))
                throw new InvalidOperationException($"Migration '{fileName}' ({dialectName}) is not named NNNN_name.sql");

            migrations.Add(new Migration(version, fileName[(underscore + 1)..^".sql".Length], ReadResource(assembly, resource)));
        }

        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 1; i < migrations.Count; i++)
        {
            if (migrations[i].Version == migrations[i - 1].Version)
                throw new InvalidOperationException($"Two {dialectName} migrations have version {migrations[i].Version}");
        }

        return migrations;
    }

    private static string ReadResource(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Embedded migration '{name}' is missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
