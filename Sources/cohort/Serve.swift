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
    @Option(help: "Most segments watched at once (SEGMENT.WATCH).") var maxWatches = 64
    @Option(
        parsing: .upToNextOption,
        help: "Pub/sub output-buffer limit: HARD SOFT SECONDS (bytes, or with kb/mb/gb), as Redis's client-output-buffer-limit pubsub.")
    var pubsubBufferLimit: [String] = ["32mb", "8mb", "60"]
    @Option(help: "Directory of the demo dataset used without --data-dir (default: data/, else generated).") var demo: String?

    func validate() throws {
        guard mergeThreshold > 0 else { throw ValidationError("--merge-threshold must be a positive number of events") }
        guard maxWatches > 0 else { throw ValidationError("--max-watches must be a positive number") }
        _ = try pubsubLimits()
    }

    /// `--pubsub-buffer-limit HARD SOFT SECONDS`.
    func pubsubLimits() throws -> PubSubLimits {
        guard pubsubBufferLimit.count == 3, let hard = Self.bytes(pubsubBufferLimit[0]), let soft = Self.bytes(pubsubBufferLimit[1]),
            let seconds = Double(pubsubBufferLimit[2]), seconds >= 0
        else { throw ValidationError("--pubsub-buffer-limit takes HARD SOFT SECONDS, as 32mb 8mb 60") }
        var limits = PubSubLimits()
        (limits.hardBytes, limits.softBytes, limits.softSeconds) = (hard, soft, seconds)
        return limits
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
        engine.maxWatches = maxWatches
        // Snapshots while serving leave a core to the requests.
        directory.snapshotWorkers = max(1, ProcessInfo.processInfo.activeProcessorCount - 1)
        var configuration = CohortServer.Configuration()
        configuration.host = host
        configuration.port = port
        configuration.password = requirepass
        configuration.snapshotInterval = snapshotInterval > 0 ? snapshotInterval : nil
        configuration.limits.clients = maxClients
        configuration.pubsubLimits = try pubsubLimits()
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
                "address": "\(address)", "data_dir": "\(dataDir ?? "demo (temporary)")", "users": "\(users)", "events": "\(events)",
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
