using System.Diagnostics;
using Triage.Worker.Cli;
using Triage.Worker.Pipeline;
using Triage.Worker.Tests.Fakes;

namespace Triage.Worker.Tests.Deploy;

/// <summary>deploy/systemd: the key settings of each unit, and <c>systemd-analyze verify</c> on all of them.</summary>
public sealed class SystemdUnitTests
{
    private static readonly string[] Units = ["triage.service", "triage-reclassify.service", "triage-reclassify.timer"];

    [Fact]
    public void The_worker_service_is_a_hardened_notify_service_with_time_to_shut_down()
    {
        var unit = UnitFile.Load(DeployFiles.Path_("systemd", "triage.service"));
        Assert.Equal("notify", unit.Single("Service", "Type")); // the worker calls UseSystemd()
        Assert.Equal("triage", unit.Single("Service", "User"));
        Assert.Equal("on-failure", unit.Single("Service", "Restart"));
        Assert.StartsWith("-/etc/triage/", unit.Single("Service", "EnvironmentFile"), StringComparison.Ordinal);
        foreach (var (key, value) in new[] { ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"), ("ProtectHome", "yes"), ("ProtectKernelTunables", "yes"), ("RestrictSUIDSGID", "yes") })
        {
            Assert.Equal(value, unit.Single("Service", key));
        }

        Assert.DoesNotContain("yes", unit.All("Service", "MemoryDenyWriteExecute")); // would break the .NET JIT
        Assert.Equal("multi-user.target", unit.Single("Install", "WantedBy"));

        var exec = unit.Single("Service", "ExecStart").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var parsed = DeployFiles.AssertTriageCommand(exec, "triage.service ExecStart");
        Assert.Equal("run", parsed.CommandResult.Command.Name);
        var dataDir = exec[Array.IndexOf(exec, "--data-dir") + 1];
        Assert.Contains(dataDir, unit.All("Service", "ReadWritePaths").SelectMany(v => v.Split(' ')));

        // systemd's stop timeout must outlast the host's shutdown timeout, or the in-flight batch is killed.
        Assert.True(UnitFile.Seconds(unit.Single("Service", "TimeoutStopSec")) > WorkerOptions.DefaultShutdownTimeout.TotalSeconds);
    }

    [Fact]
    public void The_reclassify_service_and_timer_run_the_job_nightly_and_accept_an_interrupted_run()
    {
        var service = UnitFile.Load(DeployFiles.Path_("systemd", "triage-reclassify.service"));
        var timer = UnitFile.Load(DeployFiles.Path_("systemd", "triage-reclassify.timer"));
        var exec = service.Single("Service", "ExecStart").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("reclassify", DeployFiles.AssertTriageCommand(exec, "triage-reclassify.service ExecStart").CommandResult.Command.Name);
        Assert.Contains(ReclassifyCommand.Interrupted.ToString(System.Globalization.CultureInfo.InvariantCulture), service.Single("Service", "SuccessExitStatus").Split(' '));
        Assert.Equal("triage", service.Single("Service", "User"));
        Assert.Equal("strict", service.Single("Service", "ProtectSystem"));
        Assert.Empty(service.All("Install", "WantedBy")); // started by the timer only

        Assert.Matches(@"^\*-\*-\* \d\d:\d\d:\d\d$", timer.Single("Timer", "OnCalendar"));
        Assert.Equal("true", timer.Single("Timer", "Persistent"));
        Assert.Equal("triage-reclassify.service", timer.Single("Timer", "Unit"));
        Assert.Equal("timers.target", timer.Single("Install", "WantedBy"));
    }

    [Fact]
    public async Task Systemd_analyze_verify_accepts_every_unit_and_rejects_a_broken_one()
    {
        var tool = FindOnPath("systemd-analyze")
            ?? throw new InvalidOperationException("systemd-analyze is not installed; install Debian's `systemd` package (apt-get install -y systemd) to verify deploy/systemd.");
        using var root = new TempDirectory("triage-systemd");
        var (code, output) = await VerifyAsync(tool, root.Path, unit => unit);
        Assert.True(code == 0 && output.Length == 0, $"systemd-analyze verify: exit {code}\n{output}");

        // The same check on a unit with a typo must complain, or the check above proves nothing.
        using var broken = new TempDirectory("triage-systemd");
        var (_, complaint) = await VerifyAsync(tool, broken.Path, unit => unit.Replace("Type=notify", "Type=notifyy", StringComparison.Ordinal));
        Assert.Contains("notifyy", complaint, StringComparison.Ordinal);
    }

    /// <summary>Runs verify in a scratch root that holds the units, systemd's own units and a stand-in binary.</summary>
    private static async Task<(int Code, string Output)> VerifyAsync(string tool, string root, Func<string, string> edit)
    {
        var units = Directory.CreateDirectory(Path.Combine(root, "etc", "systemd", "system")).FullName;
        foreach (var name in Units)
        {
            await File.WriteAllTextAsync(Path.Combine(units, name), edit(await File.ReadAllTextAsync(DeployFiles.Path_("systemd", name))));
        }

        var binary = Path.Combine(Directory.CreateDirectory(Path.Combine(root, "opt", "triage")).FullName, "triage");
        await File.WriteAllTextAsync(binary, "#!/bin/sh\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(binary, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var systemUnits = Directory.CreateDirectory(Path.Combine(root, "usr", "lib", "systemd", "system")).FullName;
        foreach (var file in Directory.GetFiles("/usr/lib/systemd/system", "*.target"))
        {
            File.Copy(file, Path.Combine(systemUnits, Path.GetFileName(file)));
        }

        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "verify", "--root=" + root }.Concat(Units.Select(u => "/etc/systemd/system/" + u)))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, ((await stdout) + (await stderr)).Trim());
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
}

/// <summary>A systemd unit file: sections of <c>Key=Value</c> lines (a key may repeat), <c>#</c>/<c>;</c> comments.</summary>
internal sealed class UnitFile
{
    private readonly List<(string Section, string Key, string Value)> _entries = [];

    public static UnitFile Load(string path)
    {
        var unit = new UnitFile();
        string? section = null;
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';')
            {
                continue;
            }

            if (line[0] == '[')
            {
                section = line.Trim('[', ']');
                continue;
            }

            var equals = line.IndexOf('=', StringComparison.Ordinal);
            Assert.True(section is not null && equals > 0, $"{path}: not a unit file line: {raw}");
            unit._entries.Add((section!, line[..equals].Trim(), line[(equals + 1)..].Trim()));
        }

        return unit;
    }

    public IReadOnlyList<string> All(string section, string key) =>
        _entries.Where(e => e.Section == section && e.Key == key).Select(e => e.Value).ToList();

    public string Single(string section, string key)
    {
        var values = All(section, key);
        Assert.True(values.Count == 1, $"[{section}] {key}: expected one value, found {values.Count}");
        return values[0];
    }

    /// <summary><c>45</c>, <c>45s</c>, <c>2min</c>, <c>1h</c>.</summary>
    public static double Seconds(string value)
    {
        var match = System.Text.RegularExpressions.Regex.Match(value, @"^(\d+)\s*(s|sec|min|m|h)?$");
        Assert.True(match.Success, $"not a systemd time span: {value}");
        var n = double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        return match.Groups[2].Value switch { "min" or "m" => n * 60, "h" => n * 3600, _ => n };
    }
}
