import CohortTestSupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `cohort serve` as a child process on a port the kernel picks (`--port 0`), read back
/// from its "ready" log line: tests running in parallel never race for a port, and a
/// client never reaches another test's server. SIGKILLed on deinit if still running.
final class ServedProcess {
    let process = Process()
    /// The port from the "ready" line; 0 until `start` saw it.
    private(set) var port = 0
    private let log = FileManager.default.temporaryDirectory.appendingPathComponent("cohort-serve-\(UUID().uuidString).log")

    /// Starts `cohort serve --port 0 <arguments>` and waits (bounded: 30 s) until it listens.
    init(_ arguments: [String]) throws {
        guard let executable = builtExecutable(named: "cohort") else {
            throw RESPClient.ClientError(message: "the cohort executable is not built next to the tests")
        }
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        defer { try? output.close() }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve", "--port", "0"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = output
        try process.run()
        for _ in 0..<300 {
            if let port = listeningPort() {
                self.port = port
                return
            }
            guard process.isRunning else { break }
            usleep(100_000)
        }
        throw RESPClient.ClientError(message: "cohort serve did not come up:\n\(logText)")
    }

    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// The port of the "ready" line's `address=[IPv4]127.0.0.1/127.0.0.1:PORT`.
    private func listeningPort() -> Int? {
        guard let line = logText.split(separator: "\n").first(where: { $0.contains("ready") }),
            let address = line.split(separator: " ").first(where: { $0.hasPrefix("address=") }),
            let port = address.split(separator: ":").last.flatMap({ Int($0) })
        else { return nil }
        return port
    }

    func connect() throws -> RESPClient {
        let client = try RESPClient(port: port)
        guard client.command("PING") == .simple("PONG") else { throw RESPClient.ClientError(message: "no PONG from port \(port)") }
        return client
    }

    /// Sends `signal` and waits for the process to exit.
    func stop(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
    }

    deinit {
        stop(SIGKILL)
        try? FileManager.default.removeItem(at: log)
    }
}

extension RESPClient {
    /// Sends one command given as words and reads its reply.
    func command(_ words: [String]) -> RESPValue? {
        send(Self.encode(words))
        return read()
    }
}
