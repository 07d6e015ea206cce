using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Triage.Worker.Tests.Fakes;

namespace Triage.Worker.Tests.Queues.Amqp;

/// <summary>
/// A private RabbitMQ 3.10 node with the AMQP 1.0 plugin, started as a plain process (no service manager): all state
/// in a temp directory, listening on loopback only, on free ports, with its own epmd port so nothing is shared with
/// other nodes on the machine. One node per test run (≈ 7 s to start); only the processes it started are stopped.
/// </summary>
/// <remarks>Queues are declared up front through <c>rabbitmqctl eval</c> because RabbitMQ 3.10 cannot take queue
/// arguments over AMQP 1.0: each test queue is a quorum queue with <c>x-delivery-limit</c>
/// (<see cref="DeliveryLimit"/>) dead-lettering through the default exchange to <c>&lt;name&gt;.dlq</c>.</remarks>
public sealed class RabbitMqFixture : IAsyncLifetime
{
    public const string ServerPath = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    public const string CtlPath = "/usr/lib/rabbitmq/bin/rabbitmqctl";
    public const int DeliveryLimit = 3;
    public const string User = "triage";

    /// <summary>One queue per test, so tests sharing the node cannot see each other's messages.</summary>
    public static readonly string[] QueueNames = ["basic", "abandon", "deadletter", "maxdelivery", "prefetch", "reconnect"];

    private readonly TempDirectory _directory = new("triage-rabbitmq");
    private readonly StringBuilder _output = new();
    private readonly List<Process> _started = [];
    private readonly Dictionary<string, string> _environment = new(StringComparer.Ordinal);
    private Process? _server;

    public string Password { get; } = Guid.NewGuid().ToString("N");

    public int AmqpPort { get; private set; }

    public string NodeName { get; } = $"triage-test-{Guid.NewGuid().ToString("N")[..8]}@localhost";

    public string ConnectionString => $"amqp://{User}:{Password}@127.0.0.1:{AmqpPort}";

    public static string Address(string queue) => "/amq/queue/" + queue;

    public async Task InitializeAsync()
    {
        if (!File.Exists(ServerPath))
        {
            throw new InvalidOperationException("RabbitMQ not installed: apt-get install rabbitmq-server (.ci/run does)");
        }

        AmqpPort = FreePort();
        var distributionPort = FreePort();
        var epmdPort = FreePort();
        var root = _directory.Path;
        await File.WriteAllTextAsync(Path.Combine(root, "enabled_plugins"), "[rabbitmq_amqp1_0].");
        await File.WriteAllTextAsync(Path.Combine(root, "rabbitmq.conf"), $"""
            listeners.tcp.default = 127.0.0.1:{AmqpPort}
            default_user = {User}
            default_pass = {Password}
            loopback_users = none
            amqp1_0.default_user = none
            log.console = false
            log.file.level = warning
            """);
        _environment["RABBITMQ_MNESIA_BASE"] = Path.Combine(root, "mnesia");
        _environment["RABBITMQ_LOG_BASE"] = Path.Combine(root, "log");
        _environment["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(root, "enabled_plugins");
        _environment["RABBITMQ_CONFIG_FILE"] = Path.Combine(root, "rabbitmq"); // without .conf, as the scripts expect
        _environment["RABBITMQ_NODENAME"] = NodeName;
        _environment["RABBITMQ_PID_FILE"] = Path.Combine(root, "rabbitmq.pid");
        _environment["HOME"] = root; // the Erlang cookie goes here
        _environment["ERL_EPMD_ADDRESS"] = "127.0.0.1";
        _environment["ERL_EPMD_PORT"] = epmdPort.ToString(CultureInfo.InvariantCulture);
        _environment["RABBITMQ_DIST_PORT"] = distributionPort.ToString(CultureInfo.InvariantCulture);
        _environment["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1}";

        await StartAsync();
        await DeclareQueuesAsync();
    }

    /// <summary>Starts the node (again) and waits until its AMQP listener accepts connections.</summary>
    public async Task StartAsync()
    {
        var start = new ProcessStartInfo(ServerPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in _environment)
        {
            start.Environment[name] = value;
        }

        var server = Process.Start(start) ?? throw new InvalidOperationException("rabbitmq-server did not start");
        _started.Add(server);
        _server = server;
        server.OutputDataReceived += (_, e) => Capture(e.Data);
        server.ErrorDataReceived += (_, e) => Capture(e.Data);
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();

        var deadline = Stopwatch.StartNew();
        while (!await CanConnectAsync())
        {
            if (server.HasExited)
            {
                throw new InvalidOperationException($"rabbitmq-server exited with {server.ExitCode}:\n{Output()}");
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(90))
            {
                throw new TimeoutException($"RabbitMQ did not listen on {AmqpPort} within 90 s:\n{Output()}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Stops the node gracefully and waits for its process to exit.</summary>
    public async Task StopAsync()
    {
        var server = _server;
        if (server is null || server.HasExited)
        {
            return;
        }

        await RunCtlAsync(["-n", NodeName, "stop"], TimeSpan.FromSeconds(30), throwOnError: false);
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await server.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
        }

        _server = null;
    }

    /// <summary>Runs <c>rabbitmqctl</c> against this node and returns its output.</summary>
    public Task<string> CtlAsync(params string[] arguments) => RunCtlAsync(["-n", NodeName, .. arguments], TimeSpan.FromSeconds(60), throwOnError: true);

    public async Task DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            foreach (var process in _started.Where(p => !p.HasExited))
            {
                process.Kill(entireProcessTree: true);
            }

            // The node started an epmd daemon on our private port; it outlives the node unless told to stop.
            await RunAsync("epmd", ["-port", _environment["ERL_EPMD_PORT"], "-kill"], TimeSpan.FromSeconds(10), throwOnError: false);
            foreach (var process in _started)
            {
                process.Dispose();
            }

            _directory.Dispose();
        }
    }

    private async Task DeclareQueuesAsync()
    {
        // rabbit_amqqueue:declare/6 (RabbitMQ 3.10): name, durable, auto-delete, arguments, owner, acting user.
        var declarations = string.Join(", ", QueueNames.Select(name =>
            $$"""{<<"{{name}}">>, [{<<"x-queue-type">>, longstr, <<"quorum">>}, {<<"x-delivery-limit">>, long, {{DeliveryLimit}}}, {<<"x-dead-letter-exchange">>, longstr, <<"">>}, {<<"x-dead-letter-routing-key">>, longstr, <<"{{name}}.dlq">>}]}, {<<"{{name}}.dlq">>, []}"""));
        var expression = $$"""[begin {R, _} = rabbit_amqqueue:declare(rabbit_misc:r(<<"/">>, queue, N), true, false, A, none, <<"{{User}}">>), R end || {N, A} <- [{{declarations}}]].""";
        var result = await CtlAsync("eval", expression);
        if (result.Contains("error", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"Declaring the test queues failed: {result}");
        }
    }

    private Task<string> RunCtlAsync(string[] arguments, TimeSpan timeout, bool throwOnError) => RunAsync(CtlPath, arguments, timeout, throwOnError);

    private async Task<string> RunAsync(string file, string[] arguments, TimeSpan timeout, bool throwOnError)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in _environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var wait = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} did not finish within {timeout}");
        }

        var output = await stdout + await stderr;
        if (throwOnError && process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {arguments.FirstOrDefault()} failed ({process.ExitCode}): {output}");
        }

        return output;
    }

    private async Task<bool> CanConnectAsync()
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, AmqpPort);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private void Capture(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            if (_output.Length < 64_000)
            {
                _output.AppendLine(line);
            }
        }
    }

    private string Output()
    {
        lock (_output)
        {
            return _output.ToString();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[CollectionDefinition(Name)]
public sealed class RabbitMqCollection : ICollectionFixture<RabbitMqFixture>
{
    public const string Name = "RabbitMQ";
}
