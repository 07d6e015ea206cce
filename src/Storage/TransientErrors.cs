using System.Data.Common;
using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Triage.Storage;

/// <summary>
/// Tells failures worth retrying (database restarting, network blip, lock held by another writer) from ones that will
/// fail again (constraint violation, bad SQL), so the worker can abandon a message for redelivery instead of
/// dead-lettering it.
/// </summary>
internal static class TransientErrors
{
    // SQLite primary result codes; extended codes (e.g. SQLITE_BUSY_SNAPSHOT = 517) carry them in the low byte.
    private const int SqliteBusy = 5;
    private const int SqliteLocked = 6;

    public static bool IsTransient(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);

        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case AggregateException aggregate:
                    return aggregate.InnerExceptions.Any(IsTransient);
                // Our own cancellation is a shutdown, not a failure to retry.
                case OperationCanceledException:
                    return false;
                case PostgresException postgres when postgres.IsTransient || IsTransientSqlState(postgres.SqlState):
                    return true;
                case NpgsqlException npgsql when npgsql is not PostgresException && npgsql.IsTransient:
                    return true;
                case SqliteException sqlite when (sqlite.SqliteErrorCode & 0xFF) is SqliteBusy or SqliteLocked:
                    return true;
                case SocketException or TimeoutException:
                    return true;
                case DbException db when db.IsTransient:
                    return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Connection errors (class 08) and server shutdown/start-up (57P01–57P03) mean the server is going away or not
    /// there yet; checked here as well as by Npgsql so the answer does not depend on its list.
    /// </summary>
    internal static bool IsTransientSqlState(string? sqlState) =>
        sqlState is not null
        && (sqlState.StartsWith("08", StringComparison.Ordinal)
            || sqlState is "57P01" or "57P02" or "57P03" or "53300" or "40001" or "40P01");
}
