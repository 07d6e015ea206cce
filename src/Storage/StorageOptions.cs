using System.ComponentModel.DataAnnotations;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Triage.Storage;

/// <summary>
/// The <c>Storage</c> configuration section. Validation runs through <see cref="IValidatableObject"/>, so
/// <c>AddOptions&lt;StorageOptions&gt;().BindConfiguration("Storage").ValidateDataAnnotations().ValidateOnStart()</c>
/// stops the host at start with messages that name the option.
/// </summary>
internal sealed class StorageOptions : IValidatableObject
{
    public const string SectionName = "Storage";
    public const string SqliteProvider = "sqlite";
    public const string PostgresProvider = "postgres";

    /// <summary>Relative paths resolve against the process's current directory.</summary>
    public const string DefaultConnectionString = "Data Source=data/triage.db";

    /// <summary><c>Storage:Provider</c>: <c>sqlite</c> (default) or <c>postgres</c>, case-insensitive.</summary>
    public string Provider { get; set; } = SqliteProvider;

    /// <summary>
    /// <c>Storage:ConnectionString</c>: default <see cref="DefaultConnectionString"/>. For SQLite a
    /// <c>Data Source=path</c> whose directory is created if missing (<c>Default Timeout</c> seconds also set the busy
    /// timeout); for PostgreSQL an Npgsql connection string (<c>Host=…;Port=…;Username=…;Password=…;Database=…</c>).
    /// </summary>
    public string ConnectionString { get; set; } = DefaultConnectionString;

    /// <summary><c>Storage:MigrateOnStart</c>: default true; the worker applies pending migrations before it reads the queue.</summary>
    public bool MigrateOnStart { get; set; } = true;

    internal bool IsSqlite => string.Equals(Provider?.Trim(), SqliteProvider, StringComparison.OrdinalIgnoreCase);

    internal bool IsPostgres => string.Equals(Provider?.Trim(), PostgresProvider, StringComparison.OrdinalIgnoreCase);

    /// <summary>Every problem with these options, each naming the option; empty when they are usable.</summary>
    public IReadOnlyList<string> GetErrors()
    {
        var errors = new List<string>();
        if (!IsSqlite && !IsPostgres)
        {
            errors.Add($"{SectionName}:{nameof(Provider)} must be '{SqliteProvider}' or '{PostgresProvider}', got '{Provider}'");
            return errors; // the connection string cannot be judged without knowing whose it is
        }

        const string option = $"{SectionName}:{nameof(ConnectionString)}";
        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            errors.Add(IsSqlite
                ? $"{option} is required, e.g. 'Data Source=data/triage.db'"
                : $"{option} is required, e.g. 'Host=db;Port=5432;Username=triage;Password=…;Database=triage'");
            return errors;
        }

        // Parser messages name the bad keyword, never a value, so they are safe to pass on.
        if (IsSqlite)
        {
            SqliteConnectionStringBuilder builder;
            try
            {
                builder = new SqliteConnectionStringBuilder(ConnectionString);
            }
            catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException)
            {
                errors.Add($"{option} is not a valid SQLite connection string: {e.Message}");
                return errors;
            }

            if (string.IsNullOrWhiteSpace(builder.DataSource))
                errors.Add($"{option} must set 'Data Source' to a database file path");
            else if (builder.Mode == SqliteOpenMode.Memory || builder.DataSource.Trim() == ":memory:")
                errors.Add($"{option} must name a database file: an in-memory SQLite database vanishes with each connection");
        }
        else
        {
            NpgsqlConnectionStringBuilder builder;
            try
            {
                builder = new NpgsqlConnectionStringBuilder(ConnectionString);
            }
            catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException)
            {
                errors.Add($"{option} is not a valid PostgreSQL connection string: {e.Message}");
                return errors;
            }

            if (string.IsNullOrWhiteSpace(builder.Host))
                errors.Add($"{option} must set 'Host' for PostgreSQL, got '{ConnectionStringRedactor.Redact(ConnectionString)}'");
        }

        return errors;
    }

    /// <summary>Throws <see cref="InvalidOperationException"/> listing every problem, if there is any.</summary>
    public void ThrowIfInvalid()
    {
        var errors = GetErrors();
        if (errors.Count > 0)
            throw new InvalidOperationException("Invalid storage configuration: " + string.Join("; ", errors));
    }

    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext) =>
        GetErrors().Select(e => new ValidationResult(
            e,
            [e.StartsWith($"{SectionName}:{nameof(Provider)}", StringComparison.Ordinal) ? nameof(Provider) : nameof(ConnectionString)]));

    /// <summary>Safe to log: the connection string is redacted.</summary>
    public override string ToString() =>
        $"Provider={Provider}, ConnectionString={ConnectionStringRedactor.Redact(ConnectionString)}, MigrateOnStart={MigrateOnStart}";
}
