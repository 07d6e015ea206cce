using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Triage.Worker.Messages;

/// <summary>Limits for incoming document messages, bound from configuration section <c>Queue:Envelope</c>.</summary>
internal sealed class EnvelopeOptions
{
    public const string SectionName = "Queue:Envelope";

    public const int DefaultMaxMessageBytes = 256 * 1024;
    public const long DefaultMaxClaimCheckBytes = 16L * 1024 * 1024;

    /// <summary>Largest message body accepted. Default 256 KB, the Service Bus Standard limit; bigger documents
    /// travel as a claim check (<c>uri</c>).</summary>
    [Range(1, 100 * 1024 * 1024)]
    public int MaxMessageBytes { get; set; } = DefaultMaxMessageBytes;

    /// <summary>Largest claim-check document read. Default 16 MB.</summary>
    [Range(1L, 1024L * 1024 * 1024)]
    public long MaxClaimCheckBytes { get; set; } = DefaultMaxClaimCheckBytes;

    /// <summary>When set, <c>file://</c> claim checks must point inside this directory (symbolic links are
    /// resolved first). Default: none, any absolute path the worker can read.</summary>
    public string? ClaimCheckRoot { get; set; }
}

[OptionsValidator]
internal sealed partial class EnvelopeOptionsValidator : IValidateOptions<EnvelopeOptions>;
