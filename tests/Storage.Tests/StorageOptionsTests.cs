using System.ComponentModel.DataAnnotations;

namespace Triage.Storage.Tests;

public sealed class StorageOptionsTests
{
    [Fact]
    public void Defaults_are_sqlite_in_a_data_directory_with_migrate_on_start()
    {
        var options = new StorageOptions();

        Assert.Equal("sqlite", options.Provider);
        Assert.Equal("Data Source=data/triage.db", options.ConnectionString);
        Assert.True(options.MigrateOnStart);
        Assert.Empty(options.GetErrors());
    }

    [Fact]
    public void An_unknown_provider_is_named_in_the_message()
    {
        var error = Assert.Single(new StorageOptions { Provider = "x" }.GetErrors());
        Assert.Equal("Storage:Provider must be 'sqlite' or 'postgres', got 'x'", error);
    }

    [Theory]
    [InlineData("SQLite")]
    [InlineData("Postgres")]
    public void Provider_is_case_insensitive(string provider)
    {
        var options = new StorageOptions
        {
            Provider = provider,
            ConnectionString = provider == "Postgres" ? "Host=db;Username=u;Database=d" : "Data Source=x.db",
        };
        Assert.Empty(options.GetErrors());
    }

    [Theory]
    [InlineData("sqlite", "", "Storage:ConnectionString is required")]
    [InlineData("postgres", " ", "Storage:ConnectionString is required")]
    [InlineData("sqlite", "Data Source=:memory:", "Storage:ConnectionString must name a database file")]
    [InlineData("sqlite", "Data Source=x.db;Mode=Memory", "Storage:ConnectionString must name a database file")]
    [InlineData("sqlite", "Flavour=vanilla", "Storage:ConnectionString is not a valid SQLite connection string")]
    [InlineData("postgres", "Flavour=vanilla", "Storage:ConnectionString is not a valid PostgreSQL connection string")]
    [InlineData("postgres", "Username=u;Database=d", "Storage:ConnectionString must set 'Host'")]
    public void Bad_connection_strings_are_named_in_the_message(string provider, string connectionString, string expected)
    {
        var error = Assert.Single(new StorageOptions { Provider = provider, ConnectionString = connectionString }.GetErrors());
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Messages_and_ToString_never_show_the_password()
    {
        var options = new StorageOptions { Provider = "postgres", ConnectionString = "Username=u;Password=hunter2;Database=d" };

        var error = Assert.Single(options.GetErrors());
        var thrown = Assert.Throws<InvalidOperationException>(() => ResultsRepositoryFactory.Create(options));

        Assert.DoesNotContain("hunter2", error, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", thrown.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", options.ToString(), StringComparison.Ordinal);
        Assert.Contains("Password=***", options.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void DataAnnotations_validation_reports_the_same_messages_against_the_member()
    {
        var options = new StorageOptions { Provider = "mysql" };
        var results = new List<ValidationResult>();

        var valid = Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);

        Assert.False(valid);
        var result = Assert.Single(results);
        Assert.Equal("Storage:Provider must be 'sqlite' or 'postgres', got 'mysql'", result.ErrorMessage);
        Assert.Equal([nameof(StorageOptions.Provider)], result.MemberNames);
    }

    [Fact]
    public void Factory_rejects_invalid_options_before_touching_anything()
    {
        var thrown = Assert.Throws<InvalidOperationException>(
            () => ResultsRepositoryFactory.Create(new StorageOptions { Provider = "oracle" }));
        Assert.Contains("Storage:Provider must be 'sqlite' or 'postgres', got 'oracle'", thrown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Description_of_a_postgres_repository_is_redacted()
    {
        await using var repository = ResultsRepositoryFactory.Create(
            new StorageOptions { Provider = "postgres", ConnectionString = "Host=db;Username=u;Password=hunter2;Database=d" });

        Assert.StartsWith("postgres ", repository.Description, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", repository.Description, StringComparison.Ordinal);
    }
}
