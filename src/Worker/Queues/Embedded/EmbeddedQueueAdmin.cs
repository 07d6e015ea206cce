using Dapper;
using Microsoft.Extensions.Options;

namespace Triage.Worker.Queues.Embedded;

/// <summary>Counts, dead-letter listing and requeue for the embedded queue (the <c>status</c> and
/// <c>dead-letters</c> commands). Safe to run while workers use the same file.</summary>
internal sealed class EmbeddedQueueAdmin : IQueueAdmin, IDisposable
{
    private readonly EmbeddedQueueDatabase _database;
    private readonly TimeProvider _time;

    public EmbeddedQueueAdmin(IOptions<EmbeddedQueueOptions> options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _database = new EmbeddedQueueDatabase(options.Value);
        _time = time ?? throw new ArgumentNullException(nameof(time));
    }

    public async Task<QueueCounts> GetCountsAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            // One read transaction, so the numbers are a consistent snapshot even while workers write.
            using var transaction = connection.BeginTransaction(deferred: true);
            var active = await connection.QuerySingleAsync<ActiveCounts>(new CommandDefinition(
                """
                SELECT COALESCE(SUM(CASE WHEN lock_token IS NOT NULL AND locked_until > @now THEN 0 ELSE 1 END), 0) AS Queued,
                       COALESCE(SUM(CASE WHEN lock_token IS NOT NULL AND locked_until > @now THEN 1 ELSE 0 END), 0) AS Locked
                FROM messages WHERE state = 0;
                """,
                new { now },
                transaction,
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            var completed = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT value FROM counters WHERE name = 'completed';", transaction: transaction, cancellationToken: cancellationToken))
                .ConfigureAwait(false);
            var reasons = await connection.QueryAsync<(string Reason, long Count)>(new CommandDefinition(
                "SELECT dl_reason, COUNT(*) FROM messages WHERE state = 2 GROUP BY dl_reason ORDER BY dl_reason;",
                transaction: transaction,
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            transaction.Commit();

            var byReason = reasons.ToDictionary(r => r.Reason ?? string.Empty, r => r.Count, StringComparer.Ordinal);
            return new QueueCounts(active.Queued, active.Locked, completed, byReason.Values.Sum(), byReason);
        }
    }

    public async Task<IReadOnlyList<DeadLetteredMessage>> ListDeadLettersAsync(int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var rows = await connection.QueryAsync<DeadLetterRow>(new CommandDefinition(
                """
                SELECT message_id AS MessageId, dl_reason AS Reason, dl_description AS Description,
                       delivery_count AS DeliveryCount, enqueued_at AS EnqueuedAt, dl_at AS DeadLetteredAt,
                       content_type AS ContentType, body AS Body
                FROM messages WHERE state = 2 ORDER BY dl_at, seq LIMIT @limit;
                """,
                new { limit },
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            return rows.Select(static r => new DeadLetteredMessage(
                r.MessageId,
                r.Reason ?? string.Empty,
                r.Description ?? string.Empty,
                (int)r.DeliveryCount,
                DateTimeOffset.FromUnixTimeMilliseconds(r.EnqueuedAt),
                DateTimeOffset.FromUnixTimeMilliseconds(r.DeadLetteredAt),
                r.ContentType,
                r.Body)).ToList();
        }
    }

    public async Task<int> RequeueDeadLettersAsync(IReadOnlyCollection<string>? messageIds, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            // A fresh delivery count: an operator requeues after fixing the cause, so the message gets the full
            // number of attempts again.
            const string Reset = """
                UPDATE messages
                SET state = 0, visible_at = @now, delivery_count = 0, lock_token = NULL, locked_until = NULL,
                    dl_reason = NULL, dl_description = NULL, dl_at = NULL
                WHERE state = 2
                """;
            var moved = messageIds is null
                ? await connection.ExecuteAsync(new CommandDefinition(Reset + ";", new { now }, transaction, cancellationToken: cancellationToken))
                    .ConfigureAwait(false)
                : await connection.ExecuteAsync(new CommandDefinition(
                    Reset + " AND message_id IN @ids;", new { now, ids = messageIds }, transaction, cancellationToken: cancellationToken))
                    .ConfigureAwait(false);
            transaction.Commit();
            return moved;
        }
    }

    public void Dispose() => _database.Dispose();

    private sealed class ActiveCounts
    {
        public long Queued { get; set; }

        public long Locked { get; set; }
    }

    private sealed class DeadLetterRow
    {
        public string MessageId { get; set; } = string.Empty;

        public string? Reason { get; set; }

        public string? Description { get; set; }

        public long DeliveryCount { get; set; }

        public long EnqueuedAt { get; set; }

        public long DeadLetteredAt { get; set; }

        public string? ContentType { get; set; }

        public byte[] Body { get; set; } = [];
    }
}
