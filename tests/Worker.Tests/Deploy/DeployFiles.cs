using Triage.Worker.Cli;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Deploy;

/// <summary>Paths of deploy/ and a check that a command line in a deployment file is one <c>triage</c> accepts.</summary>
internal static class DeployFiles
{
    public static string Root => Path.Combine(SharedAssets.RepositoryRoot, "deploy");

    public static string Path_(params string[] parts) => Path.Combine([Root, .. parts]);

    /// <summary>Parses <paramref name="argv"/> (binary first) with the real command line; fails on any error.</summary>
    public static System.CommandLine.ParseResult AssertTriageCommand(IReadOnlyList<string> argv, string where)
    {
        Assert.True(argv.Count > 1, $"{where}: no arguments");
        Assert.Equal("/opt/triage/triage", argv[0]);
        var result = TriageCli.Build().Parse(argv.Skip(1).ToArray());
        Assert.True(result.Errors.Count == 0, $"{where}: `{string.Join(' ', argv)}` does not parse: {string.Join("; ", result.Errors.Select(e => e.Message))}");
        return result;
    }
}
