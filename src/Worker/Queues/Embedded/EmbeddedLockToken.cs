namespace Triage.Worker.Queues.Embedded;

/// <summary>Identifies one claim of one row: the token changes on every delivery, so a consumer whose lock expired
/// cannot settle the message after someone else has claimed it.</summary>
internal sealed record EmbeddedLockToken(long Sequence, string Token);
