using System.Text.Json;
using System.Text.RegularExpressions;
using Triage.Worker.Tests.Support;

namespace Triage.Worker.Tests.Deploy;

/// <summary>
/// deploy/container/Dockerfile, read instruction by instruction (no container engine or hadolint here; CI lints it
/// with dockerfile-utils, see scripts/ci-extras.sh): the stages, the non-root user, the CUDA build argument, the
/// health check, and that every command it runs is one <c>triage</c> accepts.
/// </summary>
public sealed class DockerfileTests
{
    private static readonly IReadOnlyList<Instruction> Instructions = Instruction.Parse(File.ReadAllText(DeployFiles.Path_("container", "Dockerfile")));

    [Fact]
    public void It_builds_with_the_sdk_and_runs_on_the_runtime_image_of_Ubuntu_24_04()
    {
        var stages = Instructions.Where(i => i.Name == "FROM").Select(i => i.Arguments).ToList();
        Assert.Equal(2, stages.Count);
        Assert.Matches(@"^mcr\.microsoft\.com/dotnet/sdk:\$\{DOTNET_VERSION\}-noble AS build$", stages[0]);
        Assert.Matches(@"^mcr\.microsoft\.com/dotnet/runtime:\$\{DOTNET_VERSION\}-noble AS runtime$", stages[1]);
        Assert.Contains(Instructions, i => i.Name == "ARG" && i.Arguments == "DOTNET_VERSION=10.0");
        Assert.Contains(Runtime, i => i.Name == "COPY" && i.Arguments.StartsWith("--from=build /out/", StringComparison.Ordinal));
    }

    [Fact]
    public void The_backend_is_cpu_by_default_and_a_build_argument_selects_cuda()
    {
        var build = Instructions.TakeWhile(i => !(i.Name == "FROM" && i.Arguments.EndsWith("AS runtime", StringComparison.Ordinal))).ToList();
        Assert.Contains(build, i => i.Name == "ARG" && i.Arguments == "TORCH_BACKEND=cpu");
        var publish = Assert.Single(build, i => i.Name == "RUN" && i.Arguments.Contains("dotnet publish", StringComparison.Ordinal));
        Assert.Contains("-p:TorchBackend=${TORCH_BACKEND}", publish.Arguments, StringComparison.Ordinal);
        Assert.Contains(build, i => i.Name == "RUN" && i.Arguments.Contains("dotnet restore", StringComparison.Ordinal) && i.Arguments.Contains("-p:TorchBackend=${TORCH_BACKEND}", StringComparison.Ordinal));
    }

    [Fact]
    public void It_runs_as_an_unprivileged_user_with_the_model_inside_and_a_health_check()
    {
        var user = Runtime.Last(i => i.Name == "USER").Arguments;
        Assert.NotEqual("root", user);
        Assert.NotEqual("0", user);
        Assert.Contains(Runtime, i => i.Name == "RUN" && Regex.IsMatch(i.Arguments, $@"useradd .*--uid 10001 .*{user}\b"));
        Assert.Contains(Runtime, i => i.Name == "COPY" && i.Arguments == "${MODEL}/ /opt/triage/models/current/");
        Assert.Contains(Runtime, i => i.Name == "ARG" && i.Arguments == "MODEL=models/bbc-news");
        Assert.Contains(Runtime, i => i.Name == "ENV" && i.Arguments.Contains("TRIAGE_Model__Path=/opt/triage/models/current", StringComparison.Ordinal));

        var health = Assert.Single(Runtime, i => i.Name == "HEALTHCHECK").Arguments;
        var exec = health[(health.IndexOf("CMD ", StringComparison.Ordinal) + 4)..];
        var argv = JsonSerializer.Deserialize<string[]>(exec)!;
        Assert.Equal("health", DeployFiles.AssertTriageCommand(argv, "HEALTHCHECK").CommandResult.Command.Name);
        Assert.Matches(@"--interval=\d+s --timeout=\d+s --start-period=\d+s --retries=\d+", health);

        var entrypoint = JsonSerializer.Deserialize<string[]>(Runtime.Single(i => i.Name == "ENTRYPOINT").Arguments)!;
        var cmd = JsonSerializer.Deserialize<string[]>(Runtime.Single(i => i.Name == "CMD").Arguments)!;
        Assert.Equal("run", DeployFiles.AssertTriageCommand([.. entrypoint, .. cmd], "ENTRYPOINT + CMD").CommandResult.Command.Name);
        Assert.Contains(Runtime, i => i.Name == "VOLUME" && i.Arguments.Contains("/var/lib/triage", StringComparison.Ordinal));
    }

    [Fact]
    public void Everything_it_copies_from_the_context_exists_and_is_not_ignored()
    {
        var ignored = File.ReadAllLines(DeployFiles.Path_("container", "Dockerfile.dockerignore"))
            .Select(l => l.Trim()).Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Replace("**/", "", StringComparison.Ordinal).TrimEnd('/')).ToList();
        foreach (var copy in Instructions.Where(i => i.Name == "COPY" && !i.Arguments.StartsWith("--from", StringComparison.Ordinal)))
        {
            var parts = copy.Arguments.Replace("${MODEL}", "models/bbc-news", StringComparison.Ordinal).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            foreach (var source in parts[..^1])
            {
                var path = Path.Combine(SharedAssets.RepositoryRoot, source.TrimEnd('/'));
                Assert.True(File.Exists(path) || Directory.Exists(path), $"COPY {source}: not in the repository");
                Assert.DoesNotContain(ignored, pattern => source.TrimEnd('/') == pattern || source.StartsWith(pattern + "/", StringComparison.Ordinal));
            }
        }
    }

    private static IReadOnlyList<Instruction> Runtime =>
        Instructions.SkipWhile(i => !(i.Name == "FROM" && i.Arguments.EndsWith("AS runtime", StringComparison.Ordinal))).ToList();

    /// <summary>One Dockerfile instruction with its continuation lines joined.</summary>
    internal sealed record Instruction(string Name, string Arguments)
    {
        public static IReadOnlyList<Instruction> Parse(string text)
        {
            var result = new List<Instruction>();
            var pending = "";
            foreach (var raw in text.Split('\n'))
            {
                var line = raw.TrimEnd('\r');
                if (pending.Length == 0 && (line.TrimStart().StartsWith('#') || line.Trim().Length == 0))
                {
                    continue;
                }

                if (line.TrimStart().StartsWith('#'))
                {
                    continue; // a comment inside a continued instruction
                }

                if (line.EndsWith('\\'))
                {
                    pending += line[..^1].Trim() + " ";
                    continue;
                }

                var full = (pending + line.Trim()).Trim();
                pending = "";
                var space = full.IndexOf(' ', StringComparison.Ordinal);
                Assert.True(space > 0, $"Dockerfile: instruction without arguments: {full}");
                result.Add(new Instruction(full[..space].ToUpperInvariant(), Regex.Replace(full[(space + 1)..], @"\s+", " ").Trim()));
            }

            Assert.Equal("", pending);
            return result;
        }
    }
}
