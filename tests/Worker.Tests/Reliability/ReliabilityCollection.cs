namespace Triage.Worker.Tests.Reliability;

/// <summary>The reliability tests run one after another: each drives a whole worker (often a child process and a
/// server) and they would otherwise fight over the same few cores.</summary>
[CollectionDefinition(Name)]
public sealed class ReliabilityCollection
{
    public const string Name = "reliability";
}
