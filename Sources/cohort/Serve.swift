import ArgumentParser
import CohortCore
import CohortServer
import Dispatch
import Foundation
import Logging

extension AppendFsync: ExpressibleByArgument {}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the line protocol (RESP2/RESP3 and inline; redis-cli and Redis client libraries work).",
        discussion:
            "With no --data-dir, the demo dataset in data/ is served from a temporary data directory. SIGINT/SIGTERM drain the connections, write a final snapshot and exit 0."
    )

    @Option(help: "Data directory (created if missing).") var dataDir: String?
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 7379
    @Option(help: "Require AUTH with this password.") var requirepass: String?
    @Option(help: "Journal fsync policy: always, everysec or no.") var appendfsync: AppendFsync = .everysec
    @Option(help: "Fix the evaluation time (Unix seconds or ISO-8601).") var now: TimeOption?
    @Option(help: "Seconds between periodic snapshots (taken when there were changes); 0 for none.") var snapshotInterval: Double = 300
    @Option(help: "Most simultaneous clients.") var maxClients = 10_000
    @Option(help: "Merge an event type's delta into its sorted base in the background once it holds this many events.")
    var mergeThreshold = 65_536
    @Option(
        parsing: .upToNextOption,
        help:
            "Reply output-buffer limit: HARD SOFT SECONDS (bytes, or with kb/mb/gb). Past SOFT a connection is not read until it drains; past HARD, or over SOFT for SECONDS, it is closed."
    )
    var clientOutputBufferLimit: [String] = ["256mb", "64mb", "60"]
    @Option(
        parsing: .upToNextOption,
        help: "Pub/sub output-buffer limit: HARD SOFT SECONDS (bytes, or with kb/mb/gb), as Redis's client-output-buffer-limit pubsub.")
    var pubsubBufferLimit: [String] = ["32mb", "8mb", "60"]
    @Option(help: "Refuse writes (-OOM) while the allocator holds more than this (bytes, or with kb/mb/gb); 0 for no limit.")
    var maxmemory = "0"
    @Option(help: "Close connections idle for this many seconds; 0 for never.") var timeout: Double = 0
    @Option(help: "yes: refuse a non-loopback --host without --requirepass (Redis's protected mode).") var protectedMode: YesNo = .yes
    @Option(help: "Also listen for TLS on this port (with --tls-cert-file and --tls-key-file).") var tlsPort: Int?
    @Option(help: "The server's certificate chain (PEM).") var tlsCertFile: String?
    @Option(help: "The server's private key (PEM).") var tlsKeyFile: String?
    @Option(help: "CA certificates (PEM): TLS clients must present a certificate one of them signed.") var tlsCaCertFile: String?
    @OptionGroup(title: "Limits") var limits: LimitOptions
    @Option(help: "Directory of the demo dataset used without --data-dir (default: data/, else generated).") var demo: String?

    enum YesNo: String, ExpressibleByArgument {
        case yes, no
    }

    func validate() throws {
        guard mergeThreshold > 0 else { throw ValidationError("--merge-threshold must be a positive number of events") }
        guard timeout >= 0 else { throw ValidationError("--timeout must be 0 or a number of seconds") }
        guard Self.bytes(maxmemory) != nil else { throw ValidationError("--maxmemory takes bytes, or a size as 4gb") }
        _ = try outputLimits(clientOutputBufferLimit, "--client-output-buffer-limit")
        _ = try outputLimits(pubsubBufferLimit, "--pubsub-buffer-limit")
        if tlsPort != nil, tlsCertFile == nil || tlsKeyFile == nil {
            throw ValidationError("--tls-port needs --tls-cert-file and --tls-key-file")
        }
        if tlsPort == nil, tlsCertFile != nil || tlsKeyFile != nil || tlsCaCertFile != nil {
            throw ValidationError("--tls-cert-file, --tls-key-file and --tls-ca-cert-file need --tls-port")
        }
    }

    /// `HARD SOFT SECONDS` of an output-buffer limit option.
    func outputLimits(_ words: [String], _ option: String) throws -> OutputBufferLimit {
        guard words.count == 3, let hard = Self.bytes(words[0]), let soft = Self.bytes(words[1]), let seconds = Double(words[2]), seconds >= 0
        else { throw ValidationError("\(option) takes HARD SOFT SECONDS, as 32mb 8mb 60") }
        return OutputBufferLimit(hardBytes: hard, softBytes: soft, softSeconds: seconds)
    }

    /// A byte size as Redis writes them: 1024, 64kb, 32mb, 1gb.
    static func bytes(_ text: String) -> Int? {
        let lower = text.lowercased()
        for (suffix, unit) in [("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10), ("b", 1)] where lower.hasSuffix(suffix) {
            return Int(lower.dropLast(suffix.count)).map { $0 * unit }
        }
        return Int(lower)
    }

    func run() throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let logger = Logger(label: "cohort")
        let started = DispatchTime.now().uptimeNanoseconds
        let (directory, engine, temporary) = try openDataDirectoryOrDemo(dataDir, demo: demo, create: true, now: now?.seconds, appendfsync: appendfsync)
        engine.mergeThreshold = mergeThreshold
        engine.limits = limits.limits
        let maxBytes = Self.bytes(maxmemory) ?? 0
        engine.maxMemory = maxBytes > 0 ? maxBytes : nil
        // Snapshots while serving leave a core to the requests.
        directory.snapshotWorkers = max(1, ProcessInfo.processInfo.activeProcessorCount - 1)
        var configuration = CohortServer.Configuration()
        configuration.host = host
        configuration.port = port
        configuration.password = requirepass
        configuration.snapshotInterval = snapshotInterval > 0 ? snapshotInterval : nil
        configuration.limits.clients = maxClients
        configuration.outputLimits = try outputLimits(clientOutputBufferLimit, "--client-output-buffer-limit")
        configuration.pubsubLimits = try outputLimits(pubsubBufferLimit, "--pubsub-buffer-limit")
        configuration.idleTimeout = timeout > 0 ? timeout : nil
        configuration.protectedMode = protectedMode == .yes
        if let tlsPort, let tlsCertFile, let tlsKeyFile {
            configuration.tls = CohortServer.TLS(port: tlsPort, certificateFile: tlsCertFile, keyFile: tlsKeyFile, caCertificateFile: tlsCaCertFile)
        }
        let server = CohortServer(configuration: configuration, engine: engine, dataDirectory: directory, logger: logger)
        let address: String
        do {
            address = "\(try server.start())"
        } catch {
            try? directory.close()
            if let temporary { removeTemporaryDirectory(temporary) }
            throw CLIError("cannot listen on \(host):\(port): \(error)")
        }
        let (users, events) = engine.read { db in (db.users.liveCount, db.events.liveCount) }
        logger.info(
            "ready",
            metadata: [
                "address": "\(address)", "tls_address": "\(server.tlsAddress.map { "\($0)" } ?? "none")", "data_dir": "\(dataDir ?? "demo (temporary)")", "users": "\(users)", "events": "\(events)",
                "startup_seconds": "\(Double((DispatchTime.now().uptimeNanoseconds - started) / 1_000_000) / 1000)",
                "appendfsync": "\(appendfsync.rawValue)",
            ])

        // Signals are taken from a queue of their own: the main thread just waits.
        let signals = DispatchQueue(label: "cohort.signals")
        var sources: [DispatchSourceSignal] = []
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: signals)
            source.setEventHandler {
                logger.info("shutting down", metadata: ["signal": "\(signalNumber == SIGINT ? "SIGINT" : "SIGTERM")"])
                let ok = server.shutdown()
                if let temporary { removeTemporaryDirectory(temporary) }
                logger.info("stopped")
                Foundation.exit(ok ? 0 : 1)
            }
            source.resume()
            sources.append(source)
        }
        withExtendedLifetime(sources) { dispatchMain() }
    }
}
