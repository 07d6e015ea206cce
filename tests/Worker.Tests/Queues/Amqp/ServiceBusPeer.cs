using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Amqp;
using Amqp.Framing;
using Amqp.Handler;
using Amqp.Listener;
using Amqp.Types;
using Triage.Worker.Queues.Amqp;

namespace Triage.Worker.Tests.Queues.Amqp;

/// <summary>
/// An in-process AMQP 1.0 peer (AMQPNetLite's <see cref="ContainerHost"/>) that speaks the Service Bus–specific parts
/// of the protocol as Microsoft documents them, and records every frame of interest.
/// </summary>
/// <remarks>
/// What it proves: the transport sends a SAS token in the documented format through <c>$cbs</c> (put-token
/// application properties, a signature that verifies with the key) before attaching to the entity, and renews it;
/// it attaches receivers in peek-lock mode (unsettled, receiver-settle-mode second) with credit no larger than the
/// batch; it reads lock tokens from 16-byte delivery tags in Service Bus byte order, delivery counts from the header
/// and lock expiry from <c>x-opt-locked-until</c>; abandon sends Modified with delivery-failed; dead-letter sends
/// Rejected with <c>com.microsoft:dead-letter</c> and the <c>DeadLetterReason</c>/<c>DeadLetterErrorDescription</c>
/// info fields; renew-lock goes to <c>&lt;entity&gt;/$management</c> with <c>lock-tokens</c> and reads
/// <c>expirations</c>; a dropped connection makes earlier deliveries unsettleable and the transport reconnects.
/// What only a real namespace proves: TLS and SNI on 5671, the service's exact token validation (clock skew,
/// rights per policy, audience matching rules), real lock durations and the server-side expiry clock, duplicate
/// detection, the real dead-letter queue's system properties, throttling and server-busy errors, session and
/// partitioning behaviour, and how the service treats dispositions that arrive after a lock expired.
/// </remarks>
internal sealed class ServiceBusPeer : IDisposable
{
    public const string KeyName = "triage-listen-send";
    public const string Entity = "work";
    public const string DeadLetterEntity = Entity + "/$DeadLetterQueue";

    private static readonly Symbol LockedUntil = new("x-opt-locked-until");
    private static readonly Symbol EnqueuedTime = new("x-opt-enqueued-time");
    private static readonly Symbol SequenceNumber = new("x-opt-sequence-number");
    private const string AuthorizedKey = "authorized-audiences";

    private readonly object _gate = new();
    private readonly ContainerHost _host;
    private readonly Dictionary<string, Queue<StoredMessage>> _queues = new(StringComparer.Ordinal)
    {
        [Entity] = new(),
        [DeadLetterEntity] = new(),
    };
    private readonly Dictionary<Guid, InFlight> _locked = [];
    private readonly List<PeerSender> _senders = [];
    private readonly ConditionalWeakTable<Message, byte[]> _tags = new();
    private long _sequence;

    public ServiceBusPeer(TimeSpan? lockDuration = null, int maxDeliveryCount = 10)
    {
        LockDuration = lockDuration ?? TimeSpan.FromSeconds(30);
        MaxDeliveryCount = maxDeliveryCount;
        Key = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
        Port = FreePort();
        _host = new ContainerHost(new Address($"amqp://127.0.0.1:{Port}"));
        // Service Bus offers SASL ANONYMOUS (and EXTERNAL); authorization happens per entity through $cbs.
        _host.Listeners[0].SASL.EnableAnonymousMechanism = true;
        _host.Listeners[0].HandlerFactory = _ => new DeliveryTagHandler(this);
        _host.RegisterRequestProcessor("$cbs", new CbsProcessor(this));
        _host.RegisterRequestProcessor(Entity + "/$management", new ManagementProcessor(this));
        _host.RegisterLinkProcessor(new EntityLinkProcessor(this));
        _host.Open();
    }

    public int Port { get; }

    public string Key { get; }

    public TimeSpan LockDuration { get; }

    public int MaxDeliveryCount { get; }

    /// <summary>Host <c>127.0.0.1:port</c> with the emulator flag: plain AMQP, as the local emulator does.</summary>
    public string ConnectionString(string? key = null) =>
        $"Endpoint=sb://127.0.0.1:{Port}/;SharedAccessKeyName={KeyName};SharedAccessKey={key ?? Key};EntityPath={Entity};UseDevelopmentEmulator=true";

    public string Audience => $"sb://127.0.0.1/{Entity}";

    public List<CbsRequest> CbsRequests { get; } = [];

    public List<ManagementRequest> ManagementRequests { get; } = [];

    public List<Attach> ReceiverAttaches { get; } = [];

    public List<Disposition> Dispositions { get; } = [];

    /// <summary>Largest credit a receiver link ever held: the transport's prefetch.</summary>
    public int MaxCreditSeen { get; private set; }

    public int ConnectionsOpened { get; private set; }

    public int InFlightCount
    {
        get
        {
            lock (_gate)
            {
                return _locked.Count;
            }
        }
    }

    public int Count(string entity)
    {
        lock (_gate)
        {
            return _queues[entity].Count;
        }
    }

    public IReadOnlyList<Guid> LockTokensInFlight()
    {
        lock (_gate)
        {
            return _locked.Keys.ToList();
        }
    }

    /// <summary>Drops every client connection, as a network failure or service restart would.</summary>
    public void DropConnections()
    {
        List<PeerSender> senders;
        lock (_gate)
        {
            senders = [.. _senders];
        }

        foreach (var connection in senders.Select(s => s.Link.Session.Connection).Distinct())
        {
            connection.Close(TimeSpan.Zero, new Error(ErrorCode.ConnectionForced) { Description = "test: connection dropped" });
        }
    }

    /// <summary>Makes the service forget a lock, as if it had expired on its side.</summary>
    public void ExpireLock(Guid lockToken)
    {
        lock (_gate)
        {
            _locked.Remove(lockToken);
        }
    }

    public void Dispose() => _host.Close();

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool IsAuthorized(Connection connection, string entity)
    {
        var properties = ((ListenerConnection)connection).Properties;
        return properties.TryGetValue(AuthorizedKey, out var value) && value is HashSet<string> audiences
            && audiences.Any(a => entity == a || entity.StartsWith(a + "/", StringComparison.Ordinal));
    }

    /// <summary>Checks a token the way Service Bus documents it: HMAC-SHA256 with the key over
    /// <c>sr + "\n" + se</c>, the key name, the audience and the expiry.</summary>
    private (bool Valid, string Why) Validate(string token, string audience)
    {
        const string Prefix = "SharedAccessSignature ";
        if (!token.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return (false, "not a SharedAccessSignature");
        }

        var fields = token[Prefix.Length..].Split('&').Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        if (!fields.TryGetValue("sr", out var sr) || !fields.TryGetValue("sig", out var sig) || !fields.TryGetValue("se", out var se) || !fields.TryGetValue("skn", out var skn))
        {
            return (false, "missing sr, sig, se or skn");
        }

        if (skn != KeyName)
        {
            return (false, "unknown key name");
        }

        if (!string.Equals(WebUtility.UrlDecode(sr), audience, StringComparison.OrdinalIgnoreCase))
        {
            return (false, $"sr {WebUtility.UrlDecode(sr)} does not match the audience {audience}");
        }

        if (DateTimeOffset.FromUnixTimeSeconds(long.Parse(se, CultureInfo.InvariantCulture)) <= DateTimeOffset.UtcNow)
        {
            return (false, "expired");
        }

        var expected = SharedAccessSignature.Sign(Key, sr + "\n" + se);
        return WebUtility.UrlDecode(sig) == expected ? (true, "ok") : (false, "signature mismatch");
    }

    // Called with _gate held; the caller sends the result after releasing it, so no AMQPNetLite lock is ever taken
    // while holding ours (its callbacks take ours).
    private List<(ListenerLink Link, Message Message)> Pump()
    {
        var outgoing = new List<(ListenerLink, Message)>();
        foreach (var sender in _senders.ToList())
        {
            var queue = _queues[sender.Entity];
            while (sender.Credit > 0 && queue.Count > 0 && !sender.Link.IsClosed)
            {
                var stored = queue.Dequeue();
                var lockToken = Guid.NewGuid();
                var lockedUntil = DateTime.UtcNow + LockDuration;
                var message = new Message
                {
                    Header = new Header { DeliveryCount = (uint)stored.Deliveries, Durable = true },
                    Properties = stored.Original.Properties,
                    ApplicationProperties = stored.Original.ApplicationProperties,
                    MessageAnnotations = new MessageAnnotations
                    {
                        [EnqueuedTime] = stored.EnqueuedAt,
                        [LockedUntil] = lockedUntil,
                        [SequenceNumber] = stored.Sequence,
                    },
                    BodySection = stored.Original.BodySection,
                };
                _tags.Add(message, lockToken.ToByteArray());
                _locked[lockToken] = new InFlight(stored, sender.Entity, lockedUntil);
                sender.InFlight[message] = lockToken;
                sender.Credit--;
                outgoing.Add((sender.Link, message));
            }
        }

        return outgoing;
    }

    private static void Send(List<(ListenerLink Link, Message Message)> outgoing)
    {
        foreach (var (link, message) in outgoing)
        {
            try
            {
                link.SendMessage(message);
            }
            catch (AmqpException)
            {
                // The client's link closed meanwhile; its close releases what was in flight.
            }
        }
    }

    private void OnDisposition(PeerSender sender, Message message, DeliveryState state)
    {
        List<(ListenerLink, Message)> outgoing;
        lock (_gate)
        {
            if (!sender.InFlight.Remove(message, out var lockToken))
            {
                return;
            }

            Dispositions.Add(new Disposition(lockToken, state));
            if (!_locked.Remove(lockToken, out var inFlight))
            {
                return; // the lock already lapsed on our side: the disposition is ignored, as Service Bus does
            }

            var stored = inFlight.Message;
            switch (state)
            {
                case Accepted:
                    break;
                case Modified { DeliveryFailed: true }:
                    stored.Deliveries++;
                    Requeue(inFlight.Entity, stored);
                    break;
                case Rejected { Error: { } error } when error.Condition == "com.microsoft:dead-letter":
                    DeadLetter(stored, error.Info?[new Symbol("DeadLetterReason")] as string, error.Info?[new Symbol("DeadLetterErrorDescription")] as string);
                    break;
                default:
                    // Released (also what a closing link reports for unsettled deliveries) or Modified without
                    // delivery-failed: back to the queue, and a lost lock counts as a delivery.
                    stored.Deliveries++;
                    Requeue(inFlight.Entity, stored);
                    break;
            }

            outgoing = Pump();
        }

        Send(outgoing);
    }

    private void Requeue(string entity, StoredMessage stored)
    {
        if (entity == Entity && stored.Deliveries >= MaxDeliveryCount)
        {
            DeadLetter(stored, "MaxDeliveryCountExceeded", $"delivered {stored.Deliveries} times");
            return;
        }

        _queues[entity].Enqueue(stored);
    }

    private void DeadLetter(StoredMessage stored, string? reason, string? description)
    {
        // The real service adds the reason and description as application properties of the dead letter.
        var properties = new ApplicationProperties();
        foreach (var (name, value) in stored.Original.ApplicationProperties?.Map ?? [])
        {
            properties[name] = value;
        }

        properties["DeadLetterReason"] = reason ?? string.Empty;
        properties["DeadLetterErrorDescription"] = description ?? string.Empty;
        var copy = new Message { Properties = stored.Original.Properties, ApplicationProperties = properties, BodySection = stored.Original.BodySection };
        _queues[DeadLetterEntity].Enqueue(new StoredMessage(copy, stored.EnqueuedAt, stored.Sequence) { Deliveries = stored.Deliveries });
    }

    internal sealed record CbsRequest(string? Operation, string? Type, string? Name, string Token, bool Valid, string Why);

    internal sealed record ManagementRequest(string? Operation, Guid[] LockTokens, string? AssociatedLinkName, object? ServerTimeout);

    internal sealed record Disposition(Guid LockToken, DeliveryState State);

    private sealed class StoredMessage(Message original, DateTime enqueuedAt, long sequence)
    {
        public Message Original { get; } = original;

        public DateTime EnqueuedAt { get; } = enqueuedAt;

        public long Sequence { get; } = sequence;

        public int Deliveries { get; set; }
    }

    private sealed class InFlight(StoredMessage message, string entity, DateTime lockedUntil)
    {
        public StoredMessage Message { get; } = message;

        public string Entity { get; } = entity;

        public DateTime LockedUntil { get; set; } = lockedUntil;
    }

    private sealed class PeerSender(ListenerLink link, string entity)
    {
        public ListenerLink Link { get; } = link;

        public string Entity { get; } = entity;

        public int Credit { get; set; }

        public Dictionary<Message, Guid> InFlight { get; } = new(ReferenceEqualityComparer.Instance);
    }

    /// <summary>Service Bus delivery tags are the lock token's 16 bytes.</summary>
    private sealed class DeliveryTagHandler(ServiceBusPeer peer) : IHandler
    {
        public bool CanHandle(EventId id) => id == EventId.SendDelivery;

        public void Handle(Event protocolEvent)
        {
            if (protocolEvent.Context is IDelivery delivery && delivery.Message is { } message && peer._tags.TryGetValue(message, out var tag))
            {
                delivery.Tag = tag;
            }
        }
    }

    private sealed class CbsProcessor(ServiceBusPeer peer) : IRequestProcessor
    {
        public int Credit => 10;

        public void Process(RequestContext requestContext)
        {
            var request = requestContext.Message;
            var operation = request.ApplicationProperties?["operation"] as string;
            var type = request.ApplicationProperties?["type"] as string;
            var name = request.ApplicationProperties?["name"] as string;
            var token = request.Body as string ?? string.Empty;
            var (valid, why) = operation == "put-token" && type == "servicebus.windows.net:sastoken" && name is not null
                ? peer.Validate(token, name)
                : (false, "not a put-token request for a SAS token");
            lock (peer._gate)
            {
                peer.CbsRequests.Add(new CbsRequest(operation, type, name, token, valid, why));
                if (valid)
                {
                    var properties = ((ListenerConnection)requestContext.Link.Session.Connection).Properties;
                    if (!properties.TryGetValue(AuthorizedKey, out var set))
                    {
                        properties[AuthorizedKey] = set = new HashSet<string>(StringComparer.Ordinal);
                    }

                    ((HashSet<string>)set).Add(new Uri(name!).AbsolutePath.Trim('/'));
                }
            }

            var response = new Message
            {
                Properties = new Properties { CorrelationId = request.Properties.MessageId },
                ApplicationProperties = new ApplicationProperties
                {
                    ["status-code"] = valid ? 202 : 401,
                    ["status-description"] = valid ? "Accepted" : why,
                },
            };
            requestContext.Complete(response);
        }
    }

    private sealed class ManagementProcessor(ServiceBusPeer peer) : IRequestProcessor
    {
        public int Credit => 10;

        public void Process(RequestContext requestContext)
        {
            var request = requestContext.Message;
            var operation = request.ApplicationProperties?["operation"] as string;
            var tokens = (request.Body as Map)?["lock-tokens"] as Guid[] ?? [];
            var response = new Message
            {
                Properties = new Properties { CorrelationId = request.Properties.MessageId },
                ApplicationProperties = new ApplicationProperties(),
            };
            lock (peer._gate)
            {
                peer.ManagementRequests.Add(new ManagementRequest(
                    operation, tokens, request.ApplicationProperties?["associated-link-name"] as string, request.ApplicationProperties?["com.microsoft:server-timeout"]));
                if (!IsAuthorized(requestContext.Link.Session.Connection, Entity))
                {
                    response.ApplicationProperties["statusCode"] = 401;
                }
                else if (operation != "com.microsoft:renew-lock" || tokens.Length == 0)
                {
                    response.ApplicationProperties["statusCode"] = 400;
                    response.ApplicationProperties["statusDescription"] = "unsupported operation";
                }
                else if (tokens.Any(t => !peer._locked.ContainsKey(t)))
                {
                    response.ApplicationProperties["statusCode"] = 410;
                    response.ApplicationProperties["errorCondition"] = "com.microsoft:message-lock-lost";
                    response.ApplicationProperties["statusDescription"] = "The lock supplied is invalid.";
                }
                else
                {
                    var expirations = tokens.Select(t => peer._locked[t].LockedUntil = DateTime.UtcNow + peer.LockDuration).ToArray();
                    response.ApplicationProperties["statusCode"] = 200;
                    response.BodySection = new AmqpValue { Value = new Map { ["expirations"] = expirations } };
                }
            }

            requestContext.Complete(response);
        }
    }

    private sealed class EntityLinkProcessor(ServiceBusPeer peer) : ILinkProcessor
    {
        public void Process(AttachContext attachContext)
        {
            var attach = attachContext.Attach;
            var address = attach.Role ? ((Source)attach.Source).Address : ((Target)attach.Target).Address;
            if (address is not (Entity or DeadLetterEntity))
            {
                attachContext.Complete(new Error(ErrorCode.NotFound) { Description = $"no entity {address}" });
                return;
            }

            if (!IsAuthorized(attachContext.Link.Session.Connection, address))
            {
                attachContext.Complete(new Error(ErrorCode.UnauthorizedAccess) { Description = "put a token to $cbs first" });
                return;
            }

            if (!attach.Role)
            {
                // The client sends: accept and store.
                attachContext.Complete(new TargetLinkEndpoint(new EntityWriter(peer, address), attachContext.Link), 100);
                return;
            }

            var sender = new PeerSender(attachContext.Link, address);
            lock (peer._gate)
            {
                peer.ReceiverAttaches.Add(attach);
                peer._senders.Add(sender);
                if (attachContext.Link.Session.Connection is ListenerConnection connection && !connection.Properties.ContainsKey("counted"))
                {
                    connection.Properties["counted"] = true;
                    peer.ConnectionsOpened++;
                }
            }

            attachContext.Complete(new EntityReader(peer, sender), 0);
        }
    }

    private sealed class EntityWriter(ServiceBusPeer peer, string entity) : IMessageProcessor
    {
        public int Credit => 100;

        public void Process(MessageContext messageContext)
        {
            List<(ListenerLink, Message)> outgoing;
            lock (peer._gate)
            {
                peer._queues[entity].Enqueue(new StoredMessage(messageContext.Message, DateTime.UtcNow, ++peer._sequence));
                outgoing = peer.Pump();
            }

            messageContext.Complete();
            Send(outgoing);
        }
    }

    private sealed class EntityReader(ServiceBusPeer peer, PeerSender sender) : LinkEndpoint
    {
        public override void OnFlow(FlowContext flowContext)
        {
            List<(ListenerLink, Message)> outgoing;
            lock (peer._gate)
            {
                // Mirror ListenerLink's own accounting: a flow that does not raise the limit leaves no credit.
                sender.Credit = flowContext.Messages <= 0 ? 0 : sender.Credit + flowContext.Messages;
                peer.MaxCreditSeen = Math.Max(peer.MaxCreditSeen, sender.Credit);
                outgoing = peer.Pump();
            }

            Send(outgoing);
        }

        public override void OnDisposition(DispositionContext dispositionContext) =>
            peer.OnDisposition(sender, dispositionContext.Message, dispositionContext.DeliveryState);

        public override void OnLinkClosed(ListenerLink link, Error error)
        {
            lock (peer._gate)
            {
                peer._senders.Remove(sender);
            }
        }
    }
}
