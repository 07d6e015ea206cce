namespace Triage.Storage.Tests;

public sealed class ConnectionStringRedactorTests
{
    [Theory]
    [InlineData("Host=db;Username=triage;Password=s3cret;Database=triage")]
    [InlineData("Host=db;PASSWORD=s3cret")]
    [InlineData("Server=db;Pwd=s3cret")]
    [InlineData("Data Source=x.db;Key=s3cret")]
    [InlineData("Endpoint=sb://x;SharedAccessKey=s3cret")]
    [InlineData("Host=db;SSL Password=s3cret")]
    [InlineData("Host=db;Password=\"s3cret;with;semicolons\";Database=d")]
    [InlineData("Host=db;Password='s3cret'")]
    public void Secret_values_are_masked(string connectionString)
    {
        var redacted = ConnectionStringRedactor.Redact(connectionString);

        Assert.DoesNotContain("s3cret", redacted, StringComparison.Ordinal);
        Assert.DoesNotContain("semicolons", redacted, StringComparison.Ordinal);
        Assert.Contains("***", redacted, StringComparison.Ordinal);
    }

    [Fact]
    public void Other_values_are_kept()
    {
        var redacted = ConnectionStringRedactor.Redact("Host=db.example;Port=5433;Username=triage;Password=x;Database=results");

        Assert.Contains("db.example", redacted, StringComparison.Ordinal);
        Assert.Contains("5433", redacted, StringComparison.Ordinal);
        Assert.Contains("triage", redacted, StringComparison.Ordinal);
        Assert.Contains("results", redacted, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unparseable_string_is_not_shown_at_all()
    {
        Assert.Equal(ConnectionStringRedactor.Unparseable, ConnectionStringRedactor.Redact("Host=db;Password=\"s3cret"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void Empty_gives_empty(string? connectionString) =>
        Assert.Equal("", ConnectionStringRedactor.Redact(connectionString));
}
