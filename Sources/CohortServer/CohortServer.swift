import CohortCore
import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// `cohort serve`: the line-protocol socket in front of an `Engine` (DESIGN §4).
///
/// One event loop per core accepts connections and decodes requests
/// (`RequestDecoder`); each connection's `ConnectionHandler` runs its requests through
/// the shared command table, reads in parallel and writes serialized by the engine.
/// With a data directory, the journal is already attached to the engine, snapshots are
/// taken on `SNAPSHOT`, every `snapshotInterval` seconds when there were changes, and at
/// shutdown after the connections have drained.
public final class CohortServer: Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 7379
        public var password: String?
        public var limits = ServerLimits()
        /// `--client-output-buffer-limit`: replies; `--pubsub-buffer-limit`: pushes.
        public var outputLimits = OutputBufferLimit.normal
        public var pubsubLimits = OutputBufferLimit.pubsub
        /// Seconds between checks for a periodic snapshot; nil for none.
        public var snapshotInterval: Double? = 300
        /// `--timeout`: seconds after which an idle connection is closed; nil for never.
        public var idleTimeout: Double?
        /// `--protected-mode`: refuse a non-loopback `host` without a password.
        public var protectedMode = true
        /// A second, TLS listener (`--tls-port`); nil for none.
        public var tls: TLS?
        public init() {}
    }

    /// `--tls-port`, `--tls-cert-file`, `--tls-key-file`, `--tls-ca-cert-file` (Redis's
    /// names): PEM files read once at start. With a CA file, clients must present a
    /// certificate it signed (Redis's default `tls-auth-clients yes`).
    public struct TLS: Sendable {
        public var port: Int
        public var certificateFile: String
        public var keyFile: String
        public var caCertificateFile: String?

        public init(port: Int, certificateFile: String, keyFile: String, caCertificateFile: String? = nil) {
            self.port = port
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.caCertificateFile = caCertificateFile
        }

        /// The server's TLS context; an error naming the file that could not be used.
        func makeContext() throws -> NIOSSLContext {
            func reading<T>(_ file: String, _ what: String, _ body: () throws -> T) throws -> T {
                do { return try body() } catch { throw StartError(description: "cannot use \(what) \(file): \(error)") }
            }
            let chain = try reading(certificateFile, "--tls-cert-file") { try NIOSSLCertificate.fromPEMFile(certificateFile) }
            let key = try reading(keyFile, "--tls-key-file") { try NIOSSLPrivateKey(file: keyFile, format: .pem) }
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            if let caCertificateFile {
                let roots = try reading(caCertificateFile, "--tls-ca-cert-file") { try NIOSSLCertificate.fromPEMFile(caCertificateFile) }
                configuration.trustRoots = .certificates(roots)
                configuration.certificateVerification = .noHostnameVerification
            }
            return try reading(certificateFile, "the certificate and key") { try NIOSSLContext(configuration: configuration) }
        }
    }

    /// Why the server would not start.
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    public let configuration: Configuration
    public let engine: Engine
    public let dataDirectory: DataDirectory?
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let registry: ConnectionRegistry
    private let hub = FeedHub()
    private let workQueue = DispatchQueue(label: "cohort.commands", qos: .userInitiated, attributes: .concurrent)
    private let state = NIOLockedValueBox<State>(State())
    private let nextID = NIOLockedValueBox(1)

    /// Guarded by `state`'s lock (the timer is not Sendable, but is only touched under it).
    private struct State: @unchecked Sendable {
        var channel: Channel?
        var tlsChannel: Channel?
        var timer: DispatchSourceTimer?
        var clockTimer: DispatchSourceTimer?
        var stopped = false
    }

    public init(configuration: Configuration, engine: Engine, dataDirectory: DataDirectory?, logger: Logger) {
        self.configuration = configuration
        self.engine = engine
        self.dataDirectory = dataDirectory
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        registry = ConnectionRegistry(limit: configuration.limits.clients)
    }

    /// Binds and starts serving; returns the bound address (port 0 picks a free port).
    @discardableResult
    public func start() throws -> SocketAddress {
        let registry = self.registry
        if configuration.protectedMode, configuration.password == nil, !Self.isLoopbackHost(configuration.host) {
            throw StartError(
                description:
                    "refusing to listen on \(configuration.host) without a password (protected mode): set --requirepass, listen on 127.0.0.1, or pass --protected-mode no"
            )
        }
        let processor = SessionProcessor(
            engine: engine, registry: registry, password: configuration.password, hub: hub, outputLimits: configuration.outputLimits,
            pubsubLimits: configuration.pubsubLimits, immediateWrites: dataDirectory.map { $0.journal.policy != .always } ?? true)
        let hub = self.hub
        engine.feedListener = { notices in hub.publish(notices) }
        let limits = configuration.limits
        let workQueue = self.workQueue
        let nextID = self.nextID
        let needsAuth = configuration.password != nil
        let idleTimeout = configuration.idleTimeout.map { TimeAmount.nanoseconds(Int64($0 * 1e9)) }
        let tlsContext = try configuration.tls?.makeContext()
        func bootstrap(tls: NIOSSLContext?) -> ServerBootstrap {
            ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    let id = nextID.withLockedValue { id in
                        defer { id += 1 }
                        return id
                    }
                    let session = Session(id: id, authenticated: !needsAuth)
                    return channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        if let tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls)) }
                        if let idleTimeout { try pipeline.addHandler(IdleStateHandler(readTimeout: idleTimeout)) }
                        try pipeline.addHandler(
                            ConnectionHandler(processor: processor, session: session, registry: registry, workQueue: workQueue, limits: limits))
                    }
                }
        }
        let channel = try bootstrap(tls: nil).bind(host: configuration.host, port: configuration.port).wait()
        state.withLockedValue { $0.channel = channel }
        if let tlsContext, let tls = configuration.tls {
            do {
                let tlsChannel = try bootstrap(tls: tlsContext).bind(host: configuration.host, port: tls.port).wait()
                state.withLockedValue { $0.tlsChannel = tlsChannel }
            } catch {
                try? channel.close().wait()
                throw error
            }
        }
        startSnapshotTimer()
        startClockTimer()
        return channel.localAddress!
    }

    /// The TLS listener's address, once started with `tls`.
    public var tlsAddress: SocketAddress? { state.withLockedValue { $0.tlsChannel?.localAddress } }

    /// Whether `host` names the loopback interface only (protected mode allows it).
    public static func isLoopbackHost(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// On the wall clock, applies each second's time-driven changes once it has passed
    /// (FEATURES §1.5.2: a change at T is published when the clock reaches T + 1). The
    /// timer fires every 100 ms, so the delay stays under 1.1 s; a tick that finds
    /// nothing due takes only the read lock.
    private func startClockTimer() {
        guard !engine.clockIsFixed else { return }
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "cohort.clock"))
        timer.schedule(deadline: .now() + 0.1, repeating: 0.1)
        let engine = self.engine
        timer.setEventHandler { engine.advanceClock() }
        timer.resume()
        state.withLockedValue { $0.clockTimer = timer }
    }

    private func startSnapshotTimer() {
        guard let dataDirectory, let interval = configuration.snapshotInterval, interval > 0 else { return }
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "cohort.snapshots"))
        timer.schedule(deadline: .now() + interval, repeating: interval)
        let engine = self.engine
        let logger = self.logger
        timer.setEventHandler {
            guard dataDirectory.hasChanges(engine) else { return }
            Self.snapshot(dataDirectory, engine, logger, reason: "periodic")
        }
        timer.resume()
        state.withLockedValue { $0.timer = timer }
    }

    @discardableResult
    static func snapshot(_ dataDirectory: DataDirectory, _ engine: Engine, _ logger: Logger, reason: String) -> Bool {
        do {
            let report = try dataDirectory.snapshot(engine)
            logger.info(
                "snapshot written",
                metadata: [
                    "reason": "\(reason)", "bytes": "\(report.fileBytes)", "uncompressed_bytes": "\(report.uncompressedBytes)",
                    "seconds": "\((report.seconds * 1000).rounded() / 1000)",
                ])
            return true
        } catch {
            logger.error("snapshot failed", metadata: ["reason": "\(reason)", "error": "\(error.message)"])
            return false
        }
    }

    /// Graceful stop: stop accepting, let each connection finish the batch it is running
    /// (its replies are written) and close, take a final snapshot when there were
    /// changes, flush and release the data directory. Blocking; call once.
    /// Returns false when the final snapshot failed (the journal still holds everything).
    @discardableResult
    public func shutdown(drainTimeout: Double = 10) -> Bool {
        let (channels, timers, alreadyStopped) = state.withLockedValue { s in
            defer { s.stopped = true }
            return ([s.channel, s.tlsChannel], [s.timer, s.clockTimer], s.stopped)
        }
        guard !alreadyStopped else { return true }
        for timer in timers { timer?.cancel() }
        for channel in channels { try? channel?.close().wait() }
        let closing = registry.closeAll()
        if !closing.isEmpty {
            let all = EventLoopFuture.andAllComplete(closing, on: group.next())
            let deadline = DispatchTime.now() + drainTimeout
            let done = DispatchSemaphore(value: 0)
            all.whenComplete { _ in done.signal() }
            if done.wait(timeout: deadline) == .timedOut { logger.warning("connections still open after \(drainTimeout) s; closing anyway") }
        }
        var ok = true
        if let dataDirectory {
            if dataDirectory.hasChanges(engine) { ok = Self.snapshot(dataDirectory, engine, logger, reason: "shutdown") }
            do { try dataDirectory.close() } catch {
                logger.error("closing the data directory failed", metadata: ["error": "\(error.message)"])
                ok = false
            }
        }
        try? group.syncShutdownGracefully()
        return ok
    }
}
