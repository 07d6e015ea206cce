using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Triage.Worker.Cli;

namespace Triage.Worker.Hosting;

/// <summary>
/// Builds the generic host every command uses. Configuration, lowest precedence first: paths derived from
/// <c>--data-dir</c>; <c>appsettings.json</c> beside the binary; <c>appsettings.json</c> and
/// <c>appsettings.{Environment}.json</c> in the current directory; <c>DOTNET_</c> and <c>TRIAGE_</c> environment
/// variables (<c>__</c> separates sections, e.g. <c>TRIAGE_Batching__MaxBatchTokens</c>); <c>--set KEY=VALUE</c>.
/// </summary>
internal static class TriageHost
{
    public const string EnvironmentPrefix = "TRIAGE_";

    /// <param name="quiet">Only warnings and errors are logged (commands whose output is the point).</param>
    public static HostApplicationBuilder CreateBuilder(ParseResult parseResult, CliGlobals globals, bool quiet)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        ArgumentNullException.ThrowIfNull(globals);
        var dataDir = Path.GetFullPath(parseResult.GetValue(globals.DataDir) ?? CliGlobals.DefaultDataDir);
        return CreateBuilder(dataDir, ParseSettings(parseResult.GetValue(globals.Set) ?? []), quiet);
    }

    public static HostApplicationBuilder CreateBuilder(string dataDir, IReadOnlyDictionary<string, string?> overrides, bool quiet)
    {
        var configuration = new ConfigurationManager();
        configuration.AddInMemoryCollection(DataDirDefaults(dataDir));
        configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Configuration = configuration,
            Args = [],
            ContentRootPath = Directory.GetCurrentDirectory(),
        });
        builder.Configuration.AddEnvironmentVariables(EnvironmentPrefix);
        builder.Configuration.AddInMemoryCollection(overrides);

        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace); // stdout is for command output
        if (quiet)
        {
            builder.Logging.AddFilter<ConsoleLoggerProvider>((_, level) => level >= LogLevel.Warning);
        }

        return builder;
    }

    /// <summary>Where the data directory puts things unless configuration says otherwise.</summary>
    internal static Dictionary<string, string?> DataDirDefaults(string dataDir) => new(StringComparer.OrdinalIgnoreCase)
    {
        // File watchers per host are wasted on a CLI (and tests create many hosts).
        ["hostBuilder:reloadConfigOnChange"] = "false",
        ["DataDir"] = dataDir,
        ["Queue:Embedded:Path"] = Path.Combine(dataDir, "queue.db"),
        ["Storage:ConnectionString"] = "Data Source=" + Path.Combine(dataDir, "triage.db"),
        ["Health:FilePath"] = Path.Combine(dataDir, "health"),
    };

    internal static Dictionary<string, string?> ParseSettings(IEnumerable<string> settings)
    {
        var result = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var setting in settings)
        {
            var equals = setting.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new ArgumentException($"--set expects KEY=VALUE, got '{setting}'.");
            }

            result[setting[..equals].Trim()] = setting[(equals + 1)..];
        }

        return result;
    }
}
