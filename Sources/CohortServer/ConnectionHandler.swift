import CohortCore
import Dispatch
import NIOCore

/// Serves one connection: decodes the requests of each read, runs them as one batch,
/// writes the replies in request order and flushes once per batch.
///
/// Decoding happens here, with the `RequestDecoder` called directly on an accumulated
/// buffer, rather than in a `ByteToMessageHandler` in front: that saved a pipeline hop
/// and an `NIOAny` box per request, about a fifth of the cost of a pipelined PING.
///
/// At most one batch is in flight; requests arriving meanwhile wait in `pending` and
/// form the next batch, so replies keep request order under any pipelining. The part of
/// a batch that needs no waiting (`fast` commands: connection commands such as PING, and
/// SEGMENT.CHECK or EVENT.ADD while the engine's lock is free) runs on the event
/// loop; from the first request that would wait, the rest runs on `workQueue`, so a long
/// evaluation never blocks the event loop and the other connections it serves. All stored properties are touched only on the
/// channel's event loop; the worker gets the batch, the `Session` and an allocator, and
/// hands the encoded replies back through `NIOLoopBound`.
///
/// Change feed (FEATURES §1): pub/sub messages arrive from the `FeedHub` on this event
/// loop and are written between batches (whole frames, so never inside a reply); their
/// unsent bytes are counted against `PubSubLimits`. An `XREAD BLOCK` with nothing to
/// read parks the connection (no thread is held): the batch stops there, the hub wakes
/// it when one of its keys gets entries, a scheduled task answers nil at the timeout,
/// and the requests after it run once it is answered.
///
/// Backpressure (DESIGN §4, Redis's `client-output-buffer-limit`): reply bytes handed to
/// the channel and not yet written to the socket are counted in `replyPending`. A batch
/// stops running once its replies pass the soft limit (the rest waits in `pending`);
/// while `replyPending` is over the soft limit, or `pending` holds `maxPending`
/// requests, no batch starts and the channel is not read (`autoRead` off), so the
/// kernel's buffers fill and the client's sends block; once the socket drains, reading
/// and batches resume. Past the hard limit, or over the soft one for its seconds, the
/// connection is closed. None of this holds a thread or a lock: a client that stalls,
/// mid-request or not reading, costs its buffers only. `--timeout` closes connections
/// with nothing in flight that sent nothing for that long (an `IdleStateHandler` in
/// front tells this handler), as Redis does, except subscribers and blocked reads.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var decoder: RequestDecoder
    /// Received bytes not yet decoded (the tail of an incomplete request).
    private var received: ByteBuffer?
    private let processor: SessionProcessor
    private let session: Session
    private let registry: ConnectionRegistry
    private let workQueue: DispatchQueue
    private var pending: [Request] = []
    private var inFlight = false
    private var protocolError: ProtocolError?
    /// No more batches: QUIT, a protocol error, or a server shutdown.
    private var closing = false
    private var registered = false
    /// The parked `XREAD BLOCK`: the read, the requests after it, its timeout task.
    private var blocked: (read: XReadRequest, rest: [Request], timeout: Scheduled<Void>?)?
    /// A wake-up arrived while the blocked read was being retried: retry once more.
    private var wokenWhileRetrying = false
    private var retrying = false
    /// Pushed bytes not yet written to the socket, and since when they exceed the soft limit.
    private var pushPending = 0
    private var overSoftLimitSince: NIODeadline?
    /// The protocol of the last finished batch, for pushes (the session itself belongs to
    /// the batch in flight).
    private var pushProtocol = 2
    private let pubsubLimits: OutputBufferLimit
    private let outputLimits: OutputBufferLimit
    /// Reply bytes written to the channel and not yet sent, since when they exceed the soft
    /// limit, and the check scheduled for when they would have been over it too long.
    private var replyPending = 0
    private var repliesOverSoftSince: NIODeadline?
    private var softLimitCheck: Scheduled<Void>?
    /// The channel is not being read (backpressure); counted in INFO's `paused_clients`.
    private var paused = false
    /// Decoded requests waiting past this many pause reading until batches catch up.
    static let maxPending = 10_000

    init(processor: SessionProcessor, session: Session, registry: ConnectionRegistry, workQueue: DispatchQueue, limits: ServerLimits) {
        self.decoder = RequestDecoder(limits: limits)
        self.processor = processor
        self.session = session
        self.registry = registry
        self.workQueue = workQueue
        self.pubsubLimits = processor.pubsubLimits
        self.outputLimits = processor.outputLimits
    }

    func channelActive(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        guard
            registry.register(
                session.id, channel: context.channel,
                onShutdown: {
                    loopBound.eventLoop.execute {
                        let (handler, context) = loopBound.value
                        handler.beginClosing(context)
                    }
                })
        else {
            var buffer = context.channel.allocator.buffer(capacity: 48)
            buffer.writeString("-ERR max number of clients reached\r\n")
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
            closing = true
            return
        }
        registered = true
        processor.hub.register(
            session.id,
            FeedHub.Listener(
                deliver: { items in
                    loopBound.eventLoop.execute {
                        let (handler, context) = loopBound.value
                        handler.deliver(items, context)
                    }
                },
                wake: {
                    loopBound.eventLoop.execute {
                        let (handler, context) = loopBound.value
                        handler.retryBlocked(context)
                    }
                }))
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if registered {
            registry.unregister(session.id)
            processor.hub.unregister(session.id)
        }
        blocked?.timeout?.cancel()
        blocked = nil
        softLimitCheck?.cancel()
        softLimitCheck = nil
        if paused {
            paused = false
            registry.statistics.withLockedValue { $0.pausedClients -= 1 }
        }
        closing = true
        pending = []
        received = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, protocolError == nil else { return }
        var bytes = unwrapInboundIn(data)
        if received != nil {
            received!.writeBuffer(&bytes)
        } else {
            received = bytes
        }
        do {
            while let request = try decoder.next(&received!) { pending.append(request) }
        } catch {
            // Replied and closed once the requests before it have been answered.
            protocolError = error
            received = nil
            return
        }
        if received!.readableBytes == 0 {
            received = nil
        } else if received!.readerIndex > 64 * 1024 {
            received!.discardReadBytes()
        }
        if pending.count >= Self.maxPending { updateReading(context) }
    }

    /// `--timeout`: an idle connection (nothing in flight, parked or subscribed) is closed.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is IdleStateHandler.IdleStateEvent else { return context.fireUserInboundEventTriggered(event) }
        guard !inFlight, blocked == nil, pending.isEmpty, session.subscriptionCount == 0, !closing else { return }
        closing = true
        registry.statistics.withLockedValue { $0.timeoutDisconnects += 1 }
        context.close(promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        startBatchIfIdle(context)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    /// Server shutdown: finish the batch in flight (its replies are written), then close.
    func beginClosing(_ context: ChannelHandlerContext) {
        closing = true
        pending = []
        if let (read, _, timeout) = blocked {
            // A blocked read has nothing to finish: it ends with the connection.
            timeout?.cancel()
            processor.hub.stopWaiting(session.id, keys: read.keys)
            blocked = nil
            inFlight = false
        }
        if !inFlight { context.close(promise: nil) }
    }

    private func startBatchIfIdle(_ context: ChannelHandlerContext) {
        guard !inFlight else { return }
        defer { updateReading(context) }
        if pending.isEmpty {
            if let error = protocolError { finishWithProtocolError(error, context) }
            return
        }
        guard !closing, replyPending <= outputLimits.softBytes else { return }
        let batch = pending
        pending = []
        inFlight = true
        let allocator = context.channel.allocator
        // What can run without waiting runs here; the rest goes to the work queue.
        var out = allocator.buffer(capacity: 16 * batch.count)
        let (ran, quit, full) = processor.runImmediately(batch, session: session, into: &out)
        if quit || ran == batch.count || full {
            finished(context, out, quit: quit, unrun: batch[ran...])
            return
        }
        pushProtocol = session.protocolVersion
        if out.readableBytes > 0 { writeReplies(out, context, flush: false) }
        let rest = Array(batch[ran...])
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let processor = self.processor
        let session = self.session
        workQueue.async {
            var out = allocator.buffer(capacity: 64 * rest.count)
            let stop = processor.run(rest, session: session, into: &out)
            let replies = out
            loopBound.eventLoop.execute {
                let (handler, context) = loopBound.value
                switch stop {
                case .end: handler.finished(context, replies, quit: false)
                case .quit: handler.finished(context, replies, quit: true)
                case .full(let index): handler.finished(context, replies, quit: false, unrun: rest[(index + 1)...])
                case .blocked(let read, let index): handler.park(context, replies, read, rest: Array(rest[(index + 1)...]))
                }
            }
        }
    }

    // MARK: XREAD BLOCK

    /// Writes the replies before the blocked read and waits for entries or the timeout.
    private func park(_ context: ChannelHandlerContext, _ out: ByteBuffer, _ read: XReadRequest, rest: [Request]) {
        pushProtocol = session.protocolVersion
        guard context.channel.isActive, !closing else {
            inFlight = false
            return
        }
        if out.readableBytes > 0 { writeReplies(out, context) }
        var timeout: Scheduled<Void>?
        if let ms = read.block, ms > 0 {
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            timeout = context.eventLoop.scheduleTask(in: .milliseconds(Int64(ms))) {
                let (handler, context) = loopBound.value
                handler.answerBlocked(context, .nullArray)
            }
        }
        blocked = (read, rest, timeout)
        processor.hub.wait(session.id, keys: read.keys)
        // Entries may have arrived between the first look and the registration.
        retryBlocked(context)
    }

    /// A key of the blocked read got entries: look again, off the event loop.
    func retryBlocked(_ context: ChannelHandlerContext) {
        guard let read = blocked?.read else { return }
        if retrying {
            wokenWhileRetrying = true
            return
        }
        retrying = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let processor = self.processor
        workQueue.async {
            let reply = processor.retry(read)
            loopBound.eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.retrying = false
                if let reply {
                    handler.answerBlocked(context, reply)
                } else if handler.wokenWhileRetrying {
                    handler.wokenWhileRetrying = false
                    handler.retryBlocked(context)
                }
            }
        }
    }

    /// Answers the blocked read, then runs the requests that followed it.
    private func answerBlocked(_ context: ChannelHandlerContext, _ reply: Reply) {
        guard let (read, rest, timeout) = blocked else { return }
        blocked = nil
        wokenWhileRetrying = false
        timeout?.cancel()
        processor.hub.stopWaiting(session.id, keys: read.keys)
        var out = context.channel.allocator.buffer(capacity: 256)
        ReplyEncoder.write(reply, protocol: session.protocolVersion, into: &out)
        pending = rest + pending
        finished(context, out, quit: false)
    }

    // MARK: Pub/sub

    /// Writes pub/sub messages (whole frames, between batches) and applies the
    /// output-buffer limits to what stays unsent.
    func deliver(_ items: [(FeedNotice, pattern: String?)], _ context: ChannelHandlerContext) {
        guard context.channel.isActive, !closing else { return }
        var out = context.channel.allocator.buffer(capacity: 160 * items.count)
        for (notice, pattern) in items {
            let frame: Reply =
                if let pattern {
                    .push([.bulk("pmessage"), .bulk(pattern), .bulk(notice.channel), .bulk(notice.json)])
                } else {
                    .push([.bulk("message"), .bulk(notice.channel), .bulk(notice.json)])
                }
            ReplyEncoder.write(frame, protocol: pushProtocol, into: &out)
        }
        write(out, context, counted: \.pushPending) { handler, context in handler.checkPushLimits(context) }
        checkPushLimits(context)
    }

    /// Redis's pubsub class of `client-output-buffer-limit`: past the hard limit, or over
    /// the soft one for its seconds, the connection is closed without an error frame.
    private func checkPushLimits(_ context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        let now = NIODeadline.now()
        if pushPending <= pubsubLimits.softBytes {
            overSoftLimitSince = nil
            return
        }
        if overSoftLimitSince == nil { overSoftLimitSince = now }
        guard pubsubLimits.isExceeded(pushPending, overSoftSince: overSoftLimitSince, now: now), !closing else { return }
        closing = true
        processor.hub.slowDisconnects.withLockedValue { $0 += 1 }
        context.close(promise: nil)
    }

    /// A batch is answered: its replies are written, the requests it did not run (its
    /// budget was full) go back to the front of `pending`, and the next batch may start.
    private func finished(_ context: ChannelHandlerContext, _ out: ByteBuffer, quit: Bool, unrun: ArraySlice<Request> = []) {
        inFlight = false
        pushProtocol = session.protocolVersion
        guard context.channel.isActive else { return }
        if quit || closing {
            closing = true
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        if !unrun.isEmpty { pending = Array(unrun) + pending }
        writeReplies(out, context)
        startBatchIfIdle(context)
    }

    // MARK: Backpressure

    /// Writes replies, counted in `replyPending` until the socket has taken them.
    private func writeReplies(_ out: ByteBuffer, _ context: ChannelHandlerContext, flush: Bool = true) {
        write(out, context, counted: \.replyPending, flush: flush) { handler, context in
            handler.checkReplyLimits(context)
            handler.startBatchIfIdle(context)
        }
        checkReplyLimits(context)
    }

    /// Writes `out`, its bytes counted in `counter` until the socket has taken them; then
    /// `drained` runs on the event loop.
    private func write(
        _ out: ByteBuffer, _ context: ChannelHandlerContext, counted counter: ReferenceWritableKeyPath<ConnectionHandler, Int>,
        flush: Bool = true, drained: @escaping (ConnectionHandler, ChannelHandlerContext) -> Void
    ) {
        let bytes = out.readableBytes
        self[keyPath: counter] += bytes
        let loopBound = NIOLoopBound((self, context, counter, drained), eventLoop: context.eventLoop)
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { _ in
            let (handler, context, counter, drained) = loopBound.value
            handler[keyPath: counter] -= bytes
            drained(handler, context)
        }
        if flush {
            context.writeAndFlush(wrapOutboundOut(out), promise: promise)
        } else {
            context.write(wrapOutboundOut(out), promise: promise)
        }
    }

    /// Closes the connection past the reply output-buffer limits; while over the soft
    /// limit, schedules the check for when its seconds are up.
    private func checkReplyLimits(_ context: ChannelHandlerContext) {
        guard context.channel.isActive, !closing else { return }
        guard replyPending > outputLimits.softBytes else {
            repliesOverSoftSince = nil
            softLimitCheck?.cancel()
            softLimitCheck = nil
            return
        }
        let now = NIODeadline.now()
        if repliesOverSoftSince == nil {
            repliesOverSoftSince = now
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            softLimitCheck = context.eventLoop.scheduleTask(in: .nanoseconds(Int64(outputLimits.softSeconds * 1e9))) {
                let (handler, context) = loopBound.value
                handler.softLimitCheck = nil
                handler.checkReplyLimits(context)
            }
        }
        guard outputLimits.isExceeded(replyPending, overSoftSince: repliesOverSoftSince, now: now) else { return }
        closing = true
        registry.statistics.withLockedValue { $0.outputBufferDisconnects += 1 }
        context.close(promise: nil)
    }

    /// Reads the channel only while its replies are under the soft limit and its queue
    /// of decoded requests is short.
    private func updateReading(_ context: ChannelHandlerContext) {
        let pause = replyPending > outputLimits.softBytes || pending.count >= Self.maxPending
        guard pause != paused, context.channel.isActive else { return }
        paused = pause
        registry.statistics.withLockedValue { $0.pausedClients += pause ? 1 : -1 }
        context.channel.setOption(ChannelOptions.autoRead, value: !pause).whenFailure { _ in }
        if !pause { context.read() }
    }

    private func finishWithProtocolError(_ error: ProtocolError, _ context: ChannelHandlerContext) {
        protocolError = nil
        closing = true
        var buffer = context.channel.allocator.buffer(capacity: 64)
        ReplyEncoder.write(.error(.err("Protocol error: \(error.message)")), protocol: session.protocolVersion, into: &buffer)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }
}
