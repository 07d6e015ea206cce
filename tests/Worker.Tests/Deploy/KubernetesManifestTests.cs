using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Triage.Storage;
using Triage.Worker.Batching;
using Triage.Worker.Hosting;
using Triage.Worker.Pipeline;
using YamlDotNet.RepresentationModel;

namespace Triage.Worker.Tests.Deploy;

/// <summary>deploy/kubernetes, read with YamlDotNet: structure, cross-references between the objects, probes and
/// job arguments through the real command line, and the ConfigMap + Secret through the real options validation.</summary>
public sealed class KubernetesManifestTests
{
    private static readonly IReadOnlyList<YamlMappingNode> Objects = LoadAll();

    [Fact]
    public void Kustomization_lists_every_manifest_and_every_object_is_well_formed()
    {
        var kustomization = Load("kustomization.yaml").Single();
        var resources = Seq(kustomization, "resources").Select(n => n.ToString()).ToList();
        var files = Directory.GetFiles(DeployFiles.Path_("kubernetes"), "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml");
        Assert.Equal(files.Order(StringComparer.Ordinal), resources.Order(StringComparer.Ordinal));
        foreach (var o in Objects)
        {
            Assert.False(string.IsNullOrEmpty(Str(o, "apiVersion")));
            Assert.False(string.IsNullOrEmpty(Str(o, "kind")));
            Assert.Matches("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", Str(o, "metadata", "name"));
        }

        Assert.Equal(["ConfigMap", "CronJob", "Deployment", "ScaledObject", "Secret", "TriggerAuthentication"], Objects.Select(o => Str(o, "kind")).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_deployment_has_resources_health_probes_and_a_grace_period_longer_than_the_shutdown_timeout()
    {
        var deployment = Object("Deployment");
        var pod = Map(deployment, "spec", "template", "spec");
        Assert.Equal(Str(deployment, "spec", "selector", "matchLabels", "app.kubernetes.io/component"), Str(deployment, "spec", "template", "metadata", "labels", "app.kubernetes.io/component"));
        var container = (YamlMappingNode)Seq(pod, "containers").Single();
        foreach (var path in new[] { new[] { "requests", "cpu" }, ["requests", "memory"], ["limits", "memory"] })
        {
            Assert.False(string.IsNullOrEmpty(Str(Map(container, "resources"), path)));
        }

        foreach (var probe in new[] { "livenessProbe", "readinessProbe", "startupProbe" })
        {
            var argv = Seq(container, probe, "exec", "command").Select(n => n.ToString()).ToList();
            Assert.Equal("health", DeployFiles.AssertTriageCommand(argv, probe).CommandResult.Command.Name);
        }

        var shutdown = TimeSpan.Parse(Str(Object("ConfigMap"), "data", "TRIAGE_Worker__ShutdownTimeout"), CultureInfo.InvariantCulture);
        var grace = int.Parse(Str(pod, "terminationGracePeriodSeconds"), CultureInfo.InvariantCulture);
        Assert.True(grace > shutdown.TotalSeconds && grace > WorkerOptions.DefaultShutdownTimeout.TotalSeconds, $"grace {grace} s vs shutdown {shutdown}");
        Assert.Equal("true", Str(pod, "securityContext", "runAsNonRoot"));
        Assert.Equal("10001", Str(pod, "securityContext", "runAsUser")); // the Dockerfile's triage user
        Assert.Equal("true", Str(container, "securityContext", "readOnlyRootFilesystem"));
        var mounts = Seq(container, "volumeMounts").Cast<YamlMappingNode>().Select(m => Str(m, "mountPath")).ToList();
        Assert.Contains("/var/lib/triage", mounts); // the health file, on a read-only root
        Assert.Contains("/tmp", mounts);          // the diagnostics socket
        AssertEnvFromExists(container);
    }

    [Fact]
    public void Keda_scales_the_deployment_on_the_service_bus_queue_with_a_secret_that_exists()
    {
        var scaled = Object("ScaledObject");
        Assert.Equal("keda.sh/v1alpha1", Str(scaled, "apiVersion"));
        Assert.Equal(Str(Object("Deployment"), "metadata", "name"), Str(scaled, "spec", "scaleTargetRef", "name"));
        var trigger = (YamlMappingNode)Seq(scaled, "spec", "triggers").Single();
        Assert.Equal("azure-servicebus", Str(trigger, "type"));
        Assert.False(string.IsNullOrEmpty(Str(trigger, "metadata", "queueName")));
        Assert.True(int.Parse(Str(trigger, "metadata", "messageCount"), CultureInfo.InvariantCulture) > 0);
        Assert.True(int.Parse(Str(scaled, "spec", "maxReplicaCount"), CultureInfo.InvariantCulture) > int.Parse(Str(scaled, "spec", "minReplicaCount"), CultureInfo.InvariantCulture));

        var auth = Object("TriggerAuthentication");
        Assert.Equal(Str(auth, "metadata", "name"), Str(trigger, "authenticationRef", "name"));
        var secretRef = (YamlMappingNode)Seq(auth, "spec", "secretTargetRef").Single();
        Assert.Equal("connection", Str(secretRef, "parameter"));
        Assert.Equal(Str(Object("Secret"), "metadata", "name"), Str(secretRef, "name"));
        Assert.True(Map(Object("Secret"), "stringData").Children.ContainsKey(new YamlScalarNode(Str(secretRef, "key"))));
    }

    [Fact]
    public void The_cronjob_runs_reclassify_nightly_one_at_a_time()
    {
        var cron = Object("CronJob");
        Assert.Matches(@"^\d+ \d+ \* \* \*$", Str(cron, "spec", "schedule"));
        Assert.Equal("Forbid", Str(cron, "spec", "concurrencyPolicy"));
        var pod = Map(cron, "spec", "jobTemplate", "spec", "template", "spec");
        var container = (YamlMappingNode)Seq(pod, "containers").Single();
        var args = Seq(container, "args").Select(n => n.ToString()).ToList();
        // The image's ENTRYPOINT supplies the binary and --data-dir.
        Assert.Equal("reclassify", DeployFiles.AssertTriageCommand(["/opt/triage/triage", "--data-dir", "/var/lib/triage", .. args], "CronJob args").CommandResult.Command.Name);
        Assert.Equal(Str(Object("Deployment"), "spec", "template", "spec", "containers", "0", "image"), Str(container, "image"));
        Assert.Equal("true", Str(pod, "securityContext", "runAsNonRoot"));
        AssertEnvFromExists(container);
    }

    [Fact]
    public void ConfigMap_and_Secret_settings_pass_the_workers_own_options_validation()
    {
        var env = Map(Object("ConfigMap"), "data").Children.Concat(Map(Object("Secret"), "stringData").Children)
            .Select(p => (Key: p.Key.ToString(), Value: p.Value.ToString())).ToList();
        var settings = env.Where(e => e.Key.StartsWith(TriageHost.EnvironmentPrefix, StringComparison.Ordinal))
            .ToDictionary(e => e.Key[TriageHost.EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal), e => (string?)e.Value, StringComparer.OrdinalIgnoreCase);
        Assert.All(env.Where(e => !e.Key.StartsWith(TriageHost.EnvironmentPrefix, StringComparison.Ordinal)), e => Assert.True(e.Key is "DOTNET_CLI_TELEMETRY_OPTOUT" or "servicebus-connection", e.Key));

        using var data = new Fakes.TempDirectory();
        using var host = TriageHost.CreateBuilder(data.Path, settings, quiet: true).AddTriageOptions().Build();
        var services = host.Services;
        Assert.Equal("/opt/triage/models/current", services.GetRequiredService<IOptions<ModelOptions>>().Value.Path);
        Assert.Equal(64, services.GetRequiredService<IOptions<BatchingOptions>>().Value.MaxBatchDocuments);
        Assert.Equal(TimeSpan.FromSeconds(30), services.GetRequiredService<IOptions<WorkerOptions>>().Value.ShutdownTimeout);
        Assert.Equal("amqp", services.GetRequiredService<IOptions<QueueOptions>>().Value.Kind);
        _ = services.GetRequiredService<IOptions<HealthOptions>>().Value;
        var storage = services.GetRequiredService<IOptions<StorageOptions>>().Value;
        Assert.True(storage.IsPostgres);
        Assert.Empty(storage.GetErrors());
    }

    private static void AssertEnvFromExists(YamlMappingNode container)
    {
        foreach (var source in Seq(container, "envFrom").Cast<YamlMappingNode>())
        {
            var (kind, reference) = source.Children.ContainsKey(new YamlScalarNode("configMapRef")) ? ("ConfigMap", "configMapRef") : ("Secret", "secretRef");
            Assert.Equal(Str(Object(kind), "metadata", "name"), Str(source, reference, "name"));
        }
    }

    private static YamlMappingNode Object(string kind) => Objects.Single(o => Str(o, "kind") == kind);

    private static IReadOnlyList<YamlMappingNode> LoadAll() =>
        Directory.GetFiles(DeployFiles.Path_("kubernetes"), "*.yaml").Where(f => Path.GetFileName(f) != "kustomization.yaml").SelectMany(Load).ToList();

    private static IEnumerable<YamlMappingNode> Load(string file)
    {
        var path = Path.IsPathRooted(file) ? file : DeployFiles.Path_("kubernetes", file);
        var stream = new YamlStream();
        using (var reader = new StreamReader(path))
        {
            stream.Load(reader);
        }

        return stream.Documents.Select(d => Assert.IsType<YamlMappingNode>(d.RootNode));
    }

    private static YamlNode Node(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            node = node switch
            {
                YamlMappingNode map when map.Children.TryGetValue(new YamlScalarNode(key), out var child) => child,
                YamlSequenceNode seq when int.TryParse(key, CultureInfo.InvariantCulture, out var i) && i < seq.Children.Count => seq.Children[i],
                _ => throw new Xunit.Sdk.XunitException($"missing {string.Join('.', path)} (at '{key}')"),
            };
        }

        return node;
    }

    private static string Str(YamlNode node, params string[] path) => Assert.IsType<YamlScalarNode>(Node(node, path)).Value ?? "";

    private static YamlMappingNode Map(YamlNode node, params string[] path) => Assert.IsType<YamlMappingNode>(Node(node, path));

    private static IReadOnlyList<YamlNode> Seq(YamlNode node, params string[] path) => Assert.IsType<YamlSequenceNode>(Node(node, path)).Children.ToList();
}
