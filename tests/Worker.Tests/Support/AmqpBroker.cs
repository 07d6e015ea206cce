using System.Diagnostics;
using System.Globalization;
using Amqp;
using Microsoft.Extensions.Options;
using Triage.Worker.Queues;
using Triage.Worker.Queues.Amqp;
using Triage.Worker.Tests.Queues.Amqp;

namespace Triage.Worker.Tests.Support;

/// <summary>
/// A private RabbitMQ 3.10 node (<see cref="RabbitMqFixture"/>) for tests that run a whole worker process against
/// it. Each test declares its own fresh quorum queue (<see cref="DeclareQueueAsync"/>), so a rerun or a neighbour
/// never sees its messages, and gets the <c>TRIAGE_</c> environment that points a child worker at it.
/// </summary>
public sealed class AmqpBroker : IAsyncLifetime
{
    /// <summary>High enough that a message returned by a killed worker or a broker restart (each return counts on a
    /// quorum queue) is never dead-lettered for it; a rejected message still goes to the DLQ at once.</summary>
    public const int DeliveryLimit = 20;

    private readonly RabbitMqFixture _node = new();

    public string ConnectionString => _node.ConnectionString;

    /// <summary>The broker password: a secret no worker log may contain.</summary>
    public string Password => _node.Password;

    public static string Address(string queue) => RabbitMqFixture.Address(queue);

    public static string DeadLetterQueue(string queue) => queue + ".dlq";

    public Task InitializeAsync() => _node.InitializeAsync();

    public Task DisposeAsync() => _node.DisposeAsync();

    /// <summary>Stops the node gracefully (what an operator's restart or a rolling upgrade does).</summary>
    public Task StopAsync() => _node.StopAsync();

    /// <summary>
    /// SIGTERM to the node's <c>rabbitmq-server</c> process, as <c>systemctl stop</c> or <c>docker stop</c> sends
    /// it: the script forwards it to the Erlang VM, which shuts down gracefully at once. <see cref="StopAsync"/> goes
    /// through <c>rabbitmqctl stop</c>, whose own VM takes seconds to boot on a loaded machine while the node keeps
    /// serving, too late for a test that must catch a worker mid-run. Returns once the node has exited.
    /// </summary>
    public async Task TerminateAsync()
    {
        var pid = ServerProcessId();
        using (var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!)
        {
            await kill.WaitForExitAsync();
        }

        await _node.StopAsync(); // waits for the exit (rabbitmqctl stop finds nothing left to stop) and forgets the process
    }

    /// <summary>The <c>rabbitmq-server</c> script this fixture started: the one whose environment names this node
    /// (its rabbitmqctl runs share the environment but not the script).</summary>
    private int ServerProcessId()
    {
        var nodeVariable = "RABBITMQ_NODENAME=" + _node.NodeName;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var arguments = File.ReadAllText(Path.Combine(directory, "cmdline")).Split('\0');
                if (arguments.Any(a => a == RabbitMqFixture.ServerPath)
                    && File.ReadAllText(Path.Combine(directory, "environ")).Split('\0').Contains(nodeVariable))
                {
                    return pid;
                }
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile, or not ours to read.
            }
        }

        throw new InvalidOperationException($"No {RabbitMqFixture.ServerPath} process for node {_node.NodeName}");
    }

    /// <summary>Starts the stopped node again and waits until it accepts AMQP connections.</summary>
    public Task StartAsync() => _node.StartAsync();

    /// <summary>Declares <c>&lt;prefix&gt;-&lt;random&gt;</c> as a durable quorum queue with
    /// <see cref="DeliveryLimit"/>, dead-lettering through the default exchange to its own
    /// <c>&lt;name&gt;.dlq</c> (declared too), and returns the name.</summary>
    public async Task<string> DeclareQueueAsync(string prefix)
    {
        var name = $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";
        var dlq = DeadLetterQueue(name);
        // rabbit_amqqueue:declare/6 (RabbitMQ 3.10), as RabbitMqFixture does: 3.10 cannot pass queue arguments over
        // AMQP 1.0 and rabbitmqctl has no declare command.
        var expression = $$"""
            [begin {R, _} = rabbit_amqqueue:declare(rabbit_misc:r(<<"/">>, queue, N), true, false, A, none, <<"{{RabbitMqFixture.User}}">>), R end || {N, A} <- [{<<"{{name}}">>, [{<<"x-queue-type">>, longstr, <<"quorum">>}, {<<"x-delivery-limit">>, long, {{DeliveryLimit}}}, {<<"x-dead-letter-exchange">>, longstr, <<"">>}, {<<"x-dead-letter-routing-key">>, longstr, <<"{{dlq}}">>}]}, {<<"{{dlq}}">>, []}]].
            """;
        var result = await _node.CtlAsync("eval", expression);
        if (!result.Contains("new", StringComparison.Ordinal) || result.Contains("error", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"Declaring {name} failed: {result}");
        }

        return name;
    }

    /// <summary>Messages on <paramref name="queue"/> as <c>rabbitmqctl list_queues</c> reports them (ready +
    /// unacknowledged). The broker refreshes these figures every few seconds, so poll it with a deadline.</summary>
    public async Task<long> MessageCountAsync(string queue)
    {
        var output = await _node.CtlAsync("list_queues", "--quiet", "--no-table-headers", "name", "messages");
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = line.Split('\t', StringSplitOptions.TrimEntries);
            if (fields is [var name, var count] && name == queue)
            {
                return long.Parse(count, CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"rabbitmqctl list_queues does not show {queue}:\n{output}");
    }

    /// <summary>A transport on <paramref name="queue"/> for the test's own sends and receives.</summary>
    internal AmqpQueueTransport Transport(string queue) => new(
        Options.Create(new AmqpQueueOptions
        {
            ConnectionString = ConnectionString,
            EntityPath = Address(queue),
            DeadLetterAddress = Address(DeadLetterQueue(queue)),
            AbandonOutcome = AbandonOutcome.Released,
            ReconnectDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromSeconds(1),
        }),
        TimeProvider.System);

    /// <summary>Sends <paramref name="messages"/> to <paramref name="queue"/>, each confirmed by the broker.</summary>
    internal async Task SendAsync(string queue, IEnumerable<OutgoingMessage> messages)
    {
        await using var transport = Transport(queue);
        foreach (var message in messages)
        {
            await transport.SendAsync(message, CancellationToken.None);
        }
    }

    /// <summary>Receives for <paramref name="wait"/> and releases whatever arrives (so it stays on the queue):
    /// the message ids, empty when the queue has nothing to deliver.</summary>
    internal async Task<IReadOnlyList<string>> PeekAsync(string queue, TimeSpan wait)
    {
        await using var transport = Transport(queue);
        var clock = Stopwatch.StartNew();
        var seen = new List<string>();
        while (wait - clock.Elapsed is { Ticks: > 0 } remaining)
        {
            foreach (var message in await transport.ReceiveAsync(100, remaining, CancellationToken.None))
            {
                seen.Add(message.MessageId);
                await transport.AbandonAsync(message, CancellationToken.None);
            }
        }

        return seen;
    }

    /// <summary>One message from <paramref name="queue"/>'s DLQ exactly as the broker hands it over AMQP 1.0 (all
    /// sections, including the broker's own annotations, which the transport does not surface), accepted; null
    /// when none arrives within <paramref name="wait"/>.</summary>
    internal async Task<Message?> ReceiveDeadLetterAsync(string queue, TimeSpan wait)
    {
        var connection = await Connection.Factory.CreateAsync(new Address(ConnectionString));
        try
        {
            var session = new Session(connection);
            var receiver = new ReceiverLink(session, $"dlq-inspector-{Guid.NewGuid():N}", Address(DeadLetterQueue(queue)));
            var message = await receiver.ReceiveAsync(wait);
            if (message is not null)
            {
                receiver.Accept(message);
            }

            await receiver.CloseAsync();
            return message;
        }
        finally
        {
            await connection.CloseAsync();
        }
    }

    /// <summary>The command-line form (<c>--set key=value</c>) of <see cref="WorkerEnvironment"/>, for in-process
    /// commands such as <c>triage enqueue</c>.</summary>
    public IEnumerable<string> SetArguments(string queue) => WorkerEnvironment(queue).SelectMany(pair =>
        new[] { "--set", $"{pair.Key["TRIAGE_".Length..].Replace("__", ":", StringComparison.Ordinal)}={pair.Value}" });

    /// <summary>The <c>TRIAGE_</c> variables that make <c>triage run</c> use <paramref name="queue"/> on this node,
    /// as a unit file's <c>Environment=</c> or a pod spec would set them.</summary>
    public IReadOnlyDictionary<string, string> WorkerEnvironment(string queue) => new Dictionary<string, string>
    {
        ["TRIAGE_Queue__Kind"] = "amqp",
        ["TRIAGE_Queue__Amqp__ConnectionString"] = ConnectionString,
        ["TRIAGE_Queue__Amqp__EntityPath"] = Address(queue),
        ["TRIAGE_Queue__Amqp__DeadLetterAddress"] = Address(DeadLetterQueue(queue)),
        ["TRIAGE_Queue__Amqp__AbandonOutcome"] = "Released",
        // Short backoff so a test does not wait out the 30 s production ceiling once the broker is back.
        ["TRIAGE_Queue__Amqp__ReconnectDelay"] = "00:00:00.200",
        ["TRIAGE_Queue__Amqp__ReconnectMaxDelay"] = "00:00:02",
        ["TRIAGE_Model__Path"] = TestModel.SharedPath,
        ["TRIAGE_Model__Threads"] = "1",
        ["TRIAGE_Logging__LogLevel__Default"] = "Information",
    };
}
