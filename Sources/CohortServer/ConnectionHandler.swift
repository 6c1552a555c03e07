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

    init(processor: SessionProcessor, session: Session, registry: ConnectionRegistry, workQueue: DispatchQueue, limits: ServerLimits) {
        self.decoder = RequestDecoder(limits: limits)
        self.processor = processor
        self.session = session
        self.registry = registry
        self.workQueue = workQueue
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
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if registered { registry.unregister(session.id) }
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
        if !inFlight { context.close(promise: nil) }
    }

    private func startBatchIfIdle(_ context: ChannelHandlerContext) {
        guard !inFlight else { return }
        if pending.isEmpty {
            if let error = protocolError { finishWithProtocolError(error, context) }
            return
        }
        guard !closing else { return }
        let batch = pending
        pending = []
        inFlight = true
        let allocator = context.channel.allocator
        // What can run without waiting runs here; the rest goes to the work queue.
        var out = allocator.buffer(capacity: 16 * batch.count)
        let (ran, quit) = processor.runImmediately(batch, session: session, into: &out)
        if quit || ran == batch.count {
            finished(context, out, quit: quit)
            return
        }
        if out.readableBytes > 0 { context.write(wrapOutboundOut(out), promise: nil) }
        let rest = Array(batch[ran...])
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let processor = self.processor
        let session = self.session
        workQueue.async {
            var out = allocator.buffer(capacity: 64 * rest.count)
            let quit = processor.run(rest, session: session, into: &out)
            let replies = out
            loopBound.eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.finished(context, replies, quit: quit)
            }
        }
    }

    private func finished(_ context: ChannelHandlerContext, _ out: ByteBuffer, quit: Bool) {
        inFlight = false
        guard context.channel.isActive else { return }
        if quit || closing {
            closing = true
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        startBatchIfIdle(context)
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
