using Dapper;
using Microsoft.Data.Sqlite;

namespace Triage.Worker.Tests.Support;

/// <summary>Reads the embedded queue's rows directly (what the admin interface does not show: per-message delivery
/// counts and lock expiry), read-only, beside a running worker.</summary>
internal static class QueueFile
{
    public static async Task<IReadOnlyList<QueueRow>> ActiveRowsAsync(string dataDir)
    {
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(dataDir, "queue.db"),
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        }.ToString();
        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync();
        var rows = await connection.QueryAsync<QueueRow>(
            "SELECT message_id AS MessageId, delivery_count AS DeliveryCount, locked_until AS LockedUntilMs FROM messages WHERE state = 0 ORDER BY seq;");
        return rows.ToList();
    }
}

internal sealed class QueueRow
{
    public string MessageId { get; set; } = string.Empty;

    public long DeliveryCount { get; set; }

    /// <summary>Unix milliseconds; null when not locked.</summary>
    public long? LockedUntilMs { get; set; }

    public DateTimeOffset? LockedUntil => LockedUntilMs is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    public override string ToString() => $"{MessageId} (delivery {DeliveryCount}, locked until {LockedUntil:O})";
}
