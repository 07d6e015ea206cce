using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using Triage.Classifier.Inference;
using Triage.Storage;
using Triage.Worker.Batching;
using Triage.Worker.Hosting;
using Triage.Worker.Messages;
using Triage.Worker.Metrics;
using Triage.Worker.Queues;

namespace Triage.Worker.Pipeline;

/// <summary>
/// receive (peek-lock) → parse → tokenise → token-budget batch → classify on the inference thread → store →
/// complete. A message is completed only after the commit of its row returns; a failure on the way abandons it
/// (redelivery, eventually <c>MaxDeliveryCountExceeded</c>) and a bad message is dead-lettered with its reason.
/// </summary>
internal sealed class DocumentPipeline(
    IQueueTransport transport,
    EnvelopeParser parser,
    IBatchClassifierLoader loader,
    IResultsRepository repository,
    IOptions<ModelOptions> modelOptions,
    IOptions<StorageOptions> storageOptions,
    IOptions<BatchingOptions> batchingOptions,
    IOptions<WorkerOptions> workerOptions,
    TriageMetrics metrics,
    WorkerHealth health,
    TimeProvider time,
    ILogger<DocumentPipeline> logger,
    IQueueAdmin? admin = null)
{
    internal IQueueTransport Transport { get; } = transport;

    internal EnvelopeParser Parser { get; } = parser;

    internal IBatchClassifierLoader Loader { get; } = loader;

    internal IResultsRepository Repository { get; } = repository;

    internal IOptions<ModelOptions> ModelOptions { get; } = modelOptions;

    internal IOptions<StorageOptions> StorageOptions { get; } = storageOptions;

    internal IOptions<BatchingOptions> BatchingOptions { get; } = batchingOptions;

    internal IOptions<WorkerOptions> WorkerOptions { get; } = workerOptions;

    internal TriageMetrics Metrics { get; } = metrics;

    internal WorkerHealth Health { get; } = health;

    internal TimeProvider Time { get; } = time;

    internal ILogger<DocumentPipeline> Logger { get; } = logger;

    internal IQueueAdmin? Admin { get; } = admin;

    /// <summary>Dead-letter reason for a text with no WordPiece at all (only control or format characters).</summary>
    public const string EmptyDocumentReason = "EmptyDocument";

    /// <summary>Runs until <paramref name="stoppingToken"/> fires, or with <paramref name="drain"/> until the queue
    /// is empty and everything in flight is settled.</summary>
    public async Task<RunSummary> RunAsync(bool drain, CancellationToken stoppingToken)
    {
        var summary = new RunSummary();
        if (StorageOptions.Value.MigrateOnStart)
        {
            var migration = await Repository.MigrateAsync(stoppingToken).ConfigureAwait(false);
            LogMessages.StorageReady(Logger, Repository.Description, migration.Applied.Count);
        }

        var path = ModelPaths.Resolve(ModelOptions.Value.Path);
        using var classifier = Loader.Load(path, ModelOptions.Value.Device, ModelOptions.Value.Threads);
        LogMessages.ModelLoaded(Logger, classifier.Info.Version, classifier.Info.Method, path, classifier.Info.Device, TorchSharp.torch.get_num_threads());
        Metrics.SetModel(classifier.Info);
        summary.Model = classifier.Info;

        var run = new Run(this, classifier, summary, drain, stoppingToken);
        Metrics.SetInFlightSource(() => run.InFlight);
        Health.Running = true;
        var started = Time.GetTimestamp();
        try
        {
            await run.ExecuteAsync().ConfigureAwait(false);
        }
        finally
        {
            Health.Running = false;
            Metrics.SetInFlightSource(null);
            summary.Elapsed = Time.GetElapsedTime(started);
        }

        return summary;
    }

    private static DateTimeOffset RenewTime(DateTimeOffset now, DateTimeOffset lockedUntil) =>
        lockedUntil == DateTimeOffset.MaxValue || lockedUntil <= now ? DateTimeOffset.MaxValue : now + ((lockedUntil - now) / 2);

    private sealed record ClassifiedBatch(DocumentBatch<InFlightDocument> Batch, IReadOnlyList<Prediction>? Predictions, Exception? Error, bool Skipped);

    /// <summary>The state of one <see cref="RunAsync"/>: channels between the stages and the held messages.</summary>
    private sealed class Run
    {
        private readonly DocumentPipeline _p;
        private readonly IBatchClassifier _classifier;
        private readonly RunSummary _summary;
        private readonly bool _drain;
        private readonly CancellationToken _stop;
        private readonly WorkerOptions _options;
        private readonly BatchingOptions _batching;
        private readonly ConcurrentDictionary<InFlightDocument, byte> _held = new();
        private readonly SemaphoreSlim _slots;
        private readonly int _maxInFlight;
        private readonly Channel<InFlightDocument> _toPrepare = Channel.CreateUnbounded<InFlightDocument>();
        private readonly Channel<InFlightDocument> _prepared = Channel.CreateUnbounded<InFlightDocument>(new UnboundedChannelOptions { SingleReader = true });
        private readonly Channel<DocumentBatch<InFlightDocument>> _batches;
        private readonly Channel<ClassifiedBatch> _results = Channel.CreateUnbounded<ClassifiedBatch>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        private readonly ResiliencePipeline _store;
        private long _pausedUntilTicks;

        public Run(DocumentPipeline pipeline, IBatchClassifier classifier, RunSummary summary, bool drain, CancellationToken stop)
        {
            _p = pipeline;
            _classifier = classifier;
            _summary = summary;
            _drain = drain;
            _stop = stop;
            _options = pipeline.WorkerOptions.Value;
            _batching = pipeline.BatchingOptions.Value;
            _maxInFlight = _options.EffectiveMaxInFlight(_batching.MaxBatchDocuments);
            _slots = new SemaphoreSlim(_maxInFlight, _maxInFlight);
            _batches = Channel.CreateBounded<DocumentBatch<InFlightDocument>>(new BoundedChannelOptions(_options.MaxConcurrentBatches) { SingleReader = true, SingleWriter = true });
            var store = new ResiliencePipelineBuilder { TimeProvider = pipeline.Time };
            if (_options.StoreRetries > 0)
            {
                store.AddRetry(new RetryStrategyOptions
                {
                    ShouldHandle = new PredicateBuilder().Handle<Exception>(TransientErrors.IsTransient),
                    MaxRetryAttempts = _options.StoreRetries,
                    Delay = _options.StoreRetryDelay,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    OnRetry = args =>
                    {
                        LogMessages.StoreRetry(_p.Logger, args.Outcome.Exception!, args.AttemptNumber + 1, args.RetryDelay);
                        return default;
                    },
                });
            }

            _store = store.Build();
        }

        public int InFlight => _held.Count;

        public async Task ExecuteAsync()
        {
            LogMessages.WorkerStarted(_p.Logger, _p.Transport.GetType().Name, _batching.MaxBatchTokens, _maxInFlight);
            using var renewStop = new CancellationTokenSource();
            var renew = RenewLoopAsync(renewStop.Token);
            var inference = new InferenceThread<DocumentBatch<InFlightDocument>, ClassifiedBatch>("triage-inference", _batches.Reader, _results.Writer, Classify);
            inference.Start();
            var commit = CommitLoopAsync();
            var batch = BatchLoopAsync();
            var prepare = PrepareAllAsync();
            await ReceiveLoopAsync().ConfigureAwait(false);
            if (_stop.IsCancellationRequested)
            {
                LogMessages.Stopping(_p.Logger, _held.Count);
            }

            await prepare.ConfigureAwait(false);
            await batch.ConfigureAwait(false);
            await inference.Completion.ConfigureAwait(false);
            await commit.ConfigureAwait(false);
            await renewStop.CancelAsync().ConfigureAwait(false);
            await renew.ConfigureAwait(false);
            if (_drain && !_stop.IsCancellationRequested)
            {
                LogMessages.Drained(_p.Logger, _summary.Documents, _summary.DeadLettered.Values.Sum());
            }
        }

        private async Task ReceiveLoopAsync()
        {
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    _p.Health.Beat();
                    var slots = await AcquireSlotsAsync().ConfigureAwait(false);
                    if (slots == 0)
                    {
                        break;
                    }

                    // After the wait for slots, not before it: abandoning a batch that could not be stored is what
                    // frees the slots, and its messages must not be received straight back inside the pause.
                    await WaitWhilePausedAsync().ConfigureAwait(false);
                    if (_stop.IsCancellationRequested)
                    {
                        _slots.Release(slots);
                        break;
                    }

                    IReadOnlyList<ReceivedMessage> messages;
                    try
                    {
                        messages = await _p.Transport.ReceiveAsync(slots, _options.ReceiveWait, _stop).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                    {
                        _slots.Release(slots);
                        break;
                    }
                    catch (Exception exception) when (exception is not OperationCanceledException)
                    {
                        _slots.Release(slots);
                        LogMessages.ReceiveFailed(_p.Logger, exception);
                        await DelayAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
                        continue;
                    }

                    if (slots > messages.Count)
                    {
                        _slots.Release(slots - messages.Count);
                    }

                    if (messages.Count == 0)
                    {
                        if (_drain && await IsDrainedAsync().ConfigureAwait(false))
                        {
                            break;
                        }

                        continue;
                    }

                    var now = _p.Time.GetUtcNow();
                    foreach (var message in messages)
                    {
                        var document = new InFlightDocument(message, now, _p.Time.GetTimestamp()) { RenewAt = RenewTime(now, message.LockedUntil) };
                        _held[document] = 0;
                        _toPrepare.Writer.TryWrite(document);
                    }
                }
            }
            finally
            {
                _toPrepare.Writer.TryComplete();
            }
        }

        /// <summary>At least one free in-flight slot (waiting for it), plus as many more as are free now, up to the
        /// receive batch size; 0 when stopping.</summary>
        private async Task<int> AcquireSlotsAsync()
        {
            try
            {
                await _slots.WaitAsync(_stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return 0;
            }

            var slots = 1;
            while (slots < _options.ReceiveBatchSize && _slots.Wait(0))
            {
                slots++;
            }

            return slots;
        }

        private async Task<bool> IsDrainedAsync()
        {
            if (!_held.IsEmpty)
            {
                return false;
            }

            if (_p.Admin is null)
            {
                return true;
            }

            // Messages locked by a consumer that died come back when their locks expire: wait for them too.
            var counts = await _p.Admin.GetCountsAsync(_stop).ConfigureAwait(false);
            return counts.Queued == 0 && counts.Locked == 0 && _held.IsEmpty;
        }

        private async Task PrepareAllAsync()
        {
            try
            {
                await Task.WhenAll(Enumerable.Range(0, _batching.EffectiveTokenizerWorkers).Select(_ => Task.Run(PrepareLoopAsync))).ConfigureAwait(false);
            }
            finally
            {
                _prepared.Writer.TryComplete();
            }
        }

        private async Task PrepareLoopAsync()
        {
            await foreach (var document in _toPrepare.Reader.ReadAllAsync().ConfigureAwait(false))
            {
                if (_stop.IsCancellationRequested)
                {
                    await AbandonAsync(document, "shutdown").ConfigureAwait(false);
                    continue;
                }

                try
                {
                    var parsed = await _p.Parser.ParseAsync(document.Message, CancellationToken.None).ConfigureAwait(false);
                    if (!parsed.IsSuccess)
                    {
                        await DeadLetterAsync(document, parsed.Rejection.Code, parsed.Rejection.Description).ConfigureAwait(false);
                        continue;
                    }

                    var prepared = _classifier.Prepare(parsed.Envelope.Text);
                    if (prepared.DocumentTokens == 0)
                    {
                        await DeadLetterAsync(document, EmptyDocumentReason, "The text tokenizes to zero WordPieces (only control, format or whitespace characters).").ConfigureAwait(false);
                        continue;
                    }

                    document.Envelope = parsed.Envelope;
                    document.Prepared = prepared;
                    _prepared.Writer.TryWrite(document);
                }
                catch (Exception exception)
                {
                    LogMessages.PrepareFailed(_p.Logger, exception, document.Message.MessageId);
                    _p.Metrics.DocumentFailed(exception.GetType().Name);
                    _summary.AddFailed();
                    await AbandonAsync(document, exception.GetType().Name).ConfigureAwait(false);
                }
            }
        }

        private async Task BatchLoopAsync()
        {
            try
            {
                var batcher = new MicroBatcher<InFlightDocument>(
                    _prepared.Reader, d => new BatchCost(d.Prepared!.Windows.Count, d.Prepared.LongestWindow, d.Prepared.InputTokens), _batching, _p.Time);
                await foreach (var batch in batcher.ReadAllAsync().ConfigureAwait(false))
                {
                    if (_stop.IsCancellationRequested)
                    {
                        await AbandonAllAsync(batch.Items, "shutdown").ConfigureAwait(false);
                        continue;
                    }

                    await _batches.Writer.WriteAsync(batch).ConfigureAwait(false);
                }
            }
            finally
            {
                _batches.Writer.TryComplete();
            }
        }

        /// <summary>Runs on the inference thread; never throws.</summary>
        private ClassifiedBatch Classify(DocumentBatch<InFlightDocument> batch)
        {
            if (_stop.IsCancellationRequested)
            {
                return new ClassifiedBatch(batch, null, null, Skipped: true);
            }

            var started = _p.Time.GetTimestamp();
            try
            {
                var predictions = _classifier.Classify(batch.Items.Select(d => d.Prepared!).ToList());
                var elapsed = _p.Time.GetElapsedTime(started);
                _p.Metrics.BatchClassified(batch.Items.Count, batch.PaddedTokens, batch.FillRatio, elapsed);
                LogMessages.BatchClassified(_p.Logger, batch.Items.Count, batch.PaddedTokens, batch.FillRatio, (long)elapsed.TotalMilliseconds);
                return new ClassifiedBatch(batch, predictions, null, Skipped: false);
            }
            catch (Exception exception)
            {
                return new ClassifiedBatch(batch, null, exception, Skipped: false);
            }
            finally
            {
                _p.Health.Beat();
            }
        }

        private async Task CommitLoopAsync()
        {
            await foreach (var result in _results.Reader.ReadAllAsync().ConfigureAwait(false))
            {
                _p.Health.Beat();
                var items = result.Batch.Items;
                if (result.Skipped)
                {
                    await AbandonAllAsync(items, "shutdown").ConfigureAwait(false);
                    continue;
                }

                if (result.Error is { } error)
                {
                    LogMessages.BatchInferenceFailed(_p.Logger, error, items.Count);
                    await FailAllAsync(items, error.GetType().Name).ConfigureAwait(false);
                    continue;
                }

                await StoreAndCompleteAsync(items, result.Predictions!).ConfigureAwait(false);
            }
        }

        private async Task StoreAndCompleteAsync(IReadOnlyList<InFlightDocument> items, IReadOnlyList<Prediction> predictions)
        {
            var now = _p.Time.GetUtcNow();
            var model = _classifier.Info;
            var rows = new Dictionary<string, ClassificationResult>(StringComparer.Ordinal);
            var documents = new Dictionary<string, DocumentRecord>(StringComparer.Ordinal);
            for (var i = 0; i < items.Count; i++)
            {
                var envelope = items[i].Envelope!;
                var prediction = predictions[i];

                // Two messages for one document in a batch: one row (the last), both messages completed.
                rows[envelope.Id] = new ClassificationResult(
                    envelope.Id, model.Version, prediction.Label, prediction.Confidence, prediction.Probabilities, model.Method,
                    prediction.InputTokens, (long)Math.Round(prediction.TokensAttended), now, items[i].Message.MessageId, items[i].Message.DeliveryCount);
                documents[envelope.Id] = new DocumentRecord(envelope.Id, envelope.Text, envelope.ContentType, now);
            }

            try
            {
                await _p.Repository.WriteBatchAsync([.. documents.Values], [.. rows.Values], CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception first) when (TransientErrors.IsTransient(first) && _options.StoreRetries > 0)
            {
                try
                {
                    await _store.ExecuteAsync(
                        async ct => await _p.Repository.WriteBatchAsync([.. documents.Values], [.. rows.Values], ct).ConfigureAwait(false),
                        CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception exception)
                {
                    await StoreFailedAsync(items, exception).ConfigureAwait(false);
                    return;
                }
            }
            catch (Exception exception)
            {
                await StoreFailedAsync(items, exception).ConfigureAwait(false);
                return;
            }

            var committed = _p.Time.GetUtcNow();
            for (var i = 0; i < items.Count; i++)
            {
                var prediction = predictions[i];
                _p.Metrics.DocumentProcessed(prediction.Label, prediction.InputTokens, prediction.TokensAttended, committed - items[i].Message.EnqueuedTime);
                _summary.AddProcessed(prediction.Label, prediction.InputTokens, prediction.TokensAttended);
                await SettleAsync(items[i], "complete", m => _p.Transport.CompleteAsync(m, CancellationToken.None), null).ConfigureAwait(false);
            }
        }

        private async Task StoreFailedAsync(IReadOnlyList<InFlightDocument> items, Exception exception)
        {
            var pause = _options.StoreFailurePause;
            LogMessages.StoreFailed(_p.Logger, exception, items.Count, pause);
            Interlocked.Exchange(ref _pausedUntilTicks, (_p.Time.GetUtcNow() + pause).UtcTicks);
            await FailAllAsync(items, "store." + exception.GetType().Name).ConfigureAwait(false);
        }

        private async Task FailAllAsync(IReadOnlyList<InFlightDocument> items, string errorType)
        {
            foreach (var item in items)
            {
                _p.Metrics.DocumentFailed(errorType);
                _summary.AddFailed();
            }

            await AbandonAllAsync(items, errorType).ConfigureAwait(false);
        }

        private async Task AbandonAllAsync(IReadOnlyList<InFlightDocument> items, string errorType)
        {
            foreach (var item in items)
            {
                await AbandonAsync(item, errorType).ConfigureAwait(false);
            }
        }

        private Task AbandonAsync(InFlightDocument document, string errorType) =>
            SettleAsync(document, "abandon", m => _p.Transport.AbandonAsync(m, CancellationToken.None), errorType);

        private async Task DeadLetterAsync(InFlightDocument document, string reason, string description)
        {
            LogMessages.DeadLettered(_p.Logger, document.Message.MessageId, reason, description);
            _p.Metrics.DocumentDeadLettered(reason);
            _summary.AddDeadLettered(reason);
            await SettleAsync(document, "dead_letter", m => _p.Transport.DeadLetterAsync(m, reason, description, CancellationToken.None), reason).ConfigureAwait(false);
        }

        private async Task SettleAsync(InFlightDocument document, string operation, Func<ReceivedMessage, Task> settle, string? errorType)
        {
            if (Interlocked.Exchange(ref document.Settled, 1) == 1)
            {
                return;
            }

            try
            {
                await settle(document.Message).ConfigureAwait(false);
            }
            catch (MessageLockLostException)
            {
                LogMessages.LockLost(_p.Logger, document.Message.MessageId, operation);
            }
            catch (Exception exception)
            {
                LogMessages.SettleFailed(_p.Logger, exception, document.Message.MessageId, operation);
            }
            finally
            {
                _held.TryRemove(document, out _);
                _slots.Release();
                _p.Metrics.MessageSettled(operation, _p.Time.GetElapsedTime(document.StartTimestamp), errorType);
            }
        }

        private async Task RenewLoopAsync(CancellationToken cancellationToken)
        {
            if (!_options.RenewLocks)
            {
                return;
            }

            using var timer = new PeriodicTimer(_options.LockRenewalCheckInterval, _p.Time);
            try
            {
                while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                {
                    var now = _p.Time.GetUtcNow();
                    foreach (var document in _held.Keys)
                    {
                        if (Volatile.Read(ref document.Settled) == 1 || document.RenewAt > now)
                        {
                            continue;
                        }

                        try
                        {
                            var until = await _p.Transport.RenewLockAsync(document.Message, cancellationToken).ConfigureAwait(false);
                            document.RenewAt = RenewTime(now, until);
                        }
                        catch (NotSupportedException)
                        {
                            LogMessages.LockRenewalUnsupported(_p.Logger);
                            return;
                        }
                        catch (MessageLockLostException)
                        {
                            document.RenewAt = DateTimeOffset.MaxValue;
                            if (Volatile.Read(ref document.Settled) == 0)
                            {
                                LogMessages.LockLost(_p.Logger, document.Message.MessageId, "renew");
                            }
                        }
                        catch (Exception exception) when (exception is not OperationCanceledException)
                        {
                            LogMessages.LockRenewalFailed(_p.Logger, exception, document.Message.MessageId);
                        }
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // The run is over.
            }
        }

        private async Task WaitWhilePausedAsync()
        {
            var until = new DateTimeOffset(Interlocked.Read(ref _pausedUntilTicks), TimeSpan.Zero);
            var wait = until - _p.Time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                await DelayAsync(wait).ConfigureAwait(false);
            }
        }

        private async Task DelayAsync(TimeSpan delay)
        {
            try
            {
                await Task.Delay(delay, _p.Time, _stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopping: the loop condition ends the wait.
            }
        }
    }
}
