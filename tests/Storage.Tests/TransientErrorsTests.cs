using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Triage.Storage.Tests;

/// <summary>
/// Classification of exceptions that real servers throw is covered where they throw them (the PostgreSQL restart and
/// the SQLite busy tests); these pin down the wrapping and the cases that are awkward to provoke.
/// </summary>
public sealed class TransientErrorsTests
{
    [Fact]
    public void Network_failures_are_transient_even_when_wrapped()
    {
        Assert.True(TransientErrors.IsTransient(new SocketException((int)SocketError.ConnectionRefused)));
        Assert.True(TransientErrors.IsTransient(new InvalidOperationException("outer", new TimeoutException())));
        Assert.True(TransientErrors.IsTransient(new NpgsqlException("io", new IOException("reset", new SocketException()))));
        Assert.True(TransientErrors.IsTransient(new AggregateException(new ArgumentException(), new SocketException())));
    }

    [Fact]
    public void SQLite_busy_and_locked_are_transient_other_codes_are_not()
    {
        Assert.True(TransientErrors.IsTransient(new SqliteException("busy", 5)));
        Assert.True(TransientErrors.IsTransient(new SqliteException("locked", 6)));
        Assert.True(TransientErrors.IsTransient(new SqliteException("busy snapshot", 517)));
        Assert.False(TransientErrors.IsTransient(new SqliteException("constraint", 19)));
    }

    [Fact]
    public void Cancellation_and_programming_errors_are_not_transient()
    {
        Assert.False(TransientErrors.IsTransient(new OperationCanceledException()));
        Assert.False(TransientErrors.IsTransient(new ArgumentException("bad")));
        Assert.False(TransientErrors.IsTransient(new InvalidCastException()));
    }

    [Theory]
    [InlineData("08006", true)]
    [InlineData("57P01", true)]
    [InlineData("57P03", true)]
    [InlineData("40001", true)]
    [InlineData("23505", false)]
    [InlineData("23514", false)]
    [InlineData("42P01", false)]
    public void PostgreSQL_states(string sqlState, bool transient) =>
        Assert.Equal(transient, TransientErrors.IsTransientSqlState(sqlState));
}
