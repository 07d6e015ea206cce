using Dapper;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Triage.Worker.Queues.Embedded;

/// <summary>
/// A durable peek-lock queue in one SQLite file (the default transport): lock expiry, abandon, dead-lettering,
/// max delivery count and MessageId de-duplication with Service Bus semantics. Any number of instances, in any
/// number of processes, may share the file as competing consumers.
/// </summary>
internal sealed class EmbeddedQueueTransport : IQueueTransport
{
    private const int Active = 0;
    private const int DeadLettered = 2;

    private readonly EmbeddedQueueOptions _options;
    private readonly EmbeddedQueueDatabase _database;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly object _arrivalLock = new();
    private TaskCompletionSource _arrival = NewArrival();
    private bool _disposed;

    public EmbeddedQueueTransport(IOptions<EmbeddedQueueOptions> options, TimeProvider time, ILogger<EmbeddedQueueTransport>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _database = new EmbeddedQueueDatabase(_options);
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        QueueLog.EmbeddedOpened(_logger, _database.FullPath);
    }

    public async Task SendAsync(OutgoingMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentException.ThrowIfNullOrEmpty(message.MessageId);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var properties = ApplicationPropertyValues.ToJson(message.ApplicationProperties);

        var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            var now = Now();
            if (_options.DuplicateDetectionWindow > TimeSpan.Zero)
            {
                    await connection.ExecuteAsync(new CommandDefinition(
                    "DELETE FROM dedup WHERE expires_at <= @now;", new { now }, transaction, cancellationToken: cancellationToken))
                    .ConfigureAwait(false);
                var recorded = await connection.ExecuteAsync(new CommandDefinition(
                    "INSERT INTO dedup (message_id, expires_at) VALUES (@id, @expires) ON CONFLICT (message_id) DO NOTHING;",
                    new { id = message.MessageId, expires = now + (long)_options.DuplicateDetectionWindow.TotalMilliseconds },
                    transaction,
                    cancellationToken: cancellationToken)).ConfigureAwait(false);
                if (recorded == 0)
                {
                    transaction.Commit();
                    QueueLog.DuplicateDropped(_logger, message.MessageId);
                    return;
                }
            }

            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO messages (message_id, body, content_type, properties, enqueued_at, visible_at)
                VALUES (@id, @body, @contentType, @properties, @now, @now);
                """,
                new { id = message.MessageId, body = message.Body.ToArray(), contentType = message.ContentType, properties, now },
                transaction,
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            transaction.Commit();
        }

        SignalArrival();
    }

    public async Task<IReadOnlyList<ReceivedMessage>> ReceiveAsync(int maxMessages, TimeSpan maxWait, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessages, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxWait, TimeSpan.Zero);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var deadline = _time.GetUtcNow() + maxWait;
        while (true)
        {
            // Take the arrival signal before looking, so a send that commits after the look still wakes us.
            Task arrival;
            lock (_arrivalLock)
            {
                arrival = _arrival.Task;
            }

            var claimed = await ClaimAsync(maxMessages, cancellationToken).ConfigureAwait(false);
            if (claimed.Count > 0)
            {
                return claimed;
            }

            var remaining = deadline - _time.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                return [];
            }

            // Other processes' sends are only seen by polling; ours complete the arrival task at once.
            var poll = remaining < _options.PollInterval ? remaining : _options.PollInterval;
            using var delayCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var delay = Task.Delay(poll, _time, delayCancel.Token);
            await Task.WhenAny(arrival, delay).ConfigureAwait(false);
            await delayCancel.CancelAsync().ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    public async Task CompleteAsync(ReceivedMessage message, CancellationToken cancellationToken)
    {
        var token = TokenOf(message);
        await SettleAsync(
            message,
            """
            DELETE FROM messages WHERE seq = @seq AND lock_token = @token AND locked_until > @now AND state = 0;
            """,
            new { seq = token.Sequence, token = token.Token, now = Now() },
            cancellationToken,
            // Rows are deleted to keep the file small; the count survives for `status`.
            followUp: "UPDATE counters SET value = value + 1 WHERE name = 'completed';").ConfigureAwait(false);
    }

    public async Task AbandonAsync(ReceivedMessage message, CancellationToken cancellationToken)
    {
        var token = TokenOf(message);
        var now = Now();
        // The delivery count already includes this delivery; the next claim adds one more. At the limit the
        // message goes straight to the dead-letter queue, as Service Bus does on the abandon that exhausts it.
        await SettleAsync(
            message,
            """
            UPDATE messages
            SET lock_token = NULL, locked_until = NULL, visible_at = @now,
                state          = CASE WHEN delivery_count >= @max THEN 2 ELSE 0 END,
                dl_reason      = CASE WHEN delivery_count >= @max THEN @reason ELSE NULL END,
                dl_description = CASE WHEN delivery_count >= @max THEN @description ELSE NULL END,
                dl_at          = CASE WHEN delivery_count >= @max THEN @now ELSE NULL END
            WHERE seq = @seq AND lock_token = @token AND locked_until > @now AND state = 0;
            """,
            new
            {
                seq = token.Sequence,
                token = token.Token,
                now,
                max = _options.MaxDeliveryCount,
                reason = DeadLetterReasons.MaxDeliveryCountExceeded,
                description = MaxDeliveryDescription(),
            },
            cancellationToken).ConfigureAwait(false);
        SignalArrival();
    }

    public async Task DeadLetterAsync(ReceivedMessage message, string reason, string description, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        var token = TokenOf(message);
        var now = Now();
        await SettleAsync(
            message,
            """
            UPDATE messages
            SET lock_token = NULL, locked_until = NULL, state = 2,
                dl_reason = @reason, dl_description = @description, dl_at = @now
            WHERE seq = @seq AND lock_token = @token AND locked_until > @now AND state = 0;
            """,
            new { seq = token.Sequence, token = token.Token, now, reason, description = description ?? string.Empty },
            cancellationToken).ConfigureAwait(false);
        QueueLog.DeadLettered(_logger, message.MessageId, reason);
    }

    public async Task<DateTimeOffset> RenewLockAsync(ReceivedMessage message, CancellationToken cancellationToken)
    {
        var token = TokenOf(message);
        var now = Now();
        var lockedUntil = now + (long)_options.LockDuration.TotalMilliseconds;
        var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            var renewed = await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
                """
                UPDATE messages SET locked_until = @lockedUntil, visible_at = @lockedUntil
                WHERE seq = @seq AND lock_token = @token AND locked_until > @now AND state = 0
                RETURNING locked_until;
                """,
                new { seq = token.Sequence, token = token.Token, now, lockedUntil },
                transaction,
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            transaction.Commit();
            if (renewed is null)
            {
                throw LockLost(message);
            }
        }

        message.LockedUntil = DateTimeOffset.FromUnixTimeMilliseconds(lockedUntil);
        return message.LockedUntil;
    }

    public ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            _database.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private async Task<IReadOnlyList<ReceivedMessage>> ClaimAsync(int maxMessages, CancellationToken cancellationToken)
    {
        var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            // BEGIN IMMEDIATE takes the write lock up front, so the select-and-lock below is one atomic step for
            // every process sharing the file.
            using var transaction = connection.BeginTransaction(deferred: false);
            var now = Now();

            // A lock that expired on the last allowed delivery ends the message's life here (Service Bus does the
            // same when the lock lapses).
            var expired = await connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE messages
                SET state = 2, lock_token = NULL, locked_until = NULL,
                    dl_reason = @reason, dl_description = @description, dl_at = @now
                WHERE state = 0 AND visible_at <= @now AND delivery_count >= @max;
                """,
                new { now, max = _options.MaxDeliveryCount, reason = DeadLetterReasons.MaxDeliveryCountExceeded, description = MaxDeliveryDescription() },
                transaction,
                cancellationToken: cancellationToken)).ConfigureAwait(false);

            var lockedUntil = now + (long)_options.LockDuration.TotalMilliseconds;
            var rows = (await connection.QueryAsync<ClaimedRow>(new CommandDefinition(
                """
                UPDATE messages
                SET lock_token = lower(hex(randomblob(16))), locked_until = @lockedUntil, visible_at = @lockedUntil,
                    delivery_count = delivery_count + 1
                WHERE seq IN (SELECT seq FROM messages WHERE state = 0 AND visible_at <= @now ORDER BY seq LIMIT @limit)
                RETURNING seq AS Sequence, message_id AS MessageId, body AS Body, content_type AS ContentType,
                          properties AS Properties, enqueued_at AS EnqueuedAt, delivery_count AS DeliveryCount,
                          lock_token AS LockToken, locked_until AS LockedUntil;
                """,
                new { now, lockedUntil, limit = maxMessages },
                transaction,
                cancellationToken: cancellationToken)).ConfigureAwait(false)).ToList();
            transaction.Commit();

            if (expired > 0)
            {
                QueueLog.ExpiredToDeadLetter(_logger, expired);
            }

            // RETURNING gives no order guarantee; hand messages out in send order.
            rows.Sort(static (a, b) => a.Sequence.CompareTo(b.Sequence));
            return rows.ConvertAll(static row => new ReceivedMessage(row.MessageId, row.Body, new EmbeddedLockToken(row.Sequence, row.LockToken))
            {
                ContentType = row.ContentType,
                ApplicationProperties = ApplicationPropertyValues.FromJson(row.Properties),
                DeliveryCount = (int)row.DeliveryCount,
                EnqueuedTime = DateTimeOffset.FromUnixTimeMilliseconds(row.EnqueuedAt),
                LockedUntil = DateTimeOffset.FromUnixTimeMilliseconds(row.LockedUntil),
            });
        }
    }

    private async Task SettleAsync(
        ReceivedMessage message, string sql, object parameters, CancellationToken cancellationToken, string? followUp = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            var changed = await connection.ExecuteAsync(new CommandDefinition(sql, parameters, transaction, cancellationToken: cancellationToken))
                .ConfigureAwait(false);
            if (changed == 0)
            {
                // Nothing matched: the lock expired, or another consumer claimed the row since.
                throw LockLost(message);
            }

            if (followUp is not null)
            {
                await connection.ExecuteAsync(new CommandDefinition(followUp, transaction: transaction, cancellationToken: cancellationToken))
                    .ConfigureAwait(false);
            }

            transaction.Commit();
        }
    }

    private static EmbeddedLockToken TokenOf(ReceivedMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return message.LockToken as EmbeddedLockToken
            ?? throw new ArgumentException("The message was not received from an embedded queue.", nameof(message));
    }

    private static MessageLockLostException LockLost(ReceivedMessage message) =>
        new($"The lock on message '{message.MessageId}' has expired or is held by another consumer; it will be redelivered.");

    private string MaxDeliveryDescription() =>
        $"The message was delivered {_options.MaxDeliveryCount} times without being completed.";

    private long Now() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private void SignalArrival()
    {
        TaskCompletionSource previous;
        lock (_arrivalLock)
        {
            previous = _arrival;
            _arrival = NewArrival();
        }

        previous.TrySetResult();
    }

    private static TaskCompletionSource NewArrival() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class ClaimedRow
    {
        public long Sequence { get; set; }

        public string MessageId { get; set; } = string.Empty;

        public byte[] Body { get; set; } = [];

        public string? ContentType { get; set; }

        public string? Properties { get; set; }

        public long EnqueuedAt { get; set; }

        public long DeliveryCount { get; set; }

        public string LockToken { get; set; } = string.Empty;

        public long LockedUntil { get; set; }
    }
}
