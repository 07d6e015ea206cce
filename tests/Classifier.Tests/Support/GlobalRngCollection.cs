namespace Triage.Classifier.Tests.Support;

/// <summary>
/// Tests that seed libtorch's process-wide generator (dropout, initialisation) and compare exact results run alone:
/// another test drawing from the same generator in parallel would change their numbers.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalRngCollection
{
    public const string Name = "libtorch global RNG";
}
