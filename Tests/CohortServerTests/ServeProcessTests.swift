import CohortCore
import CohortTestSupport
import Foundation
import Testing

/// `cohort serve` as a process: SIGKILL loses no acknowledged write with
/// `appendfsync always`, and SIGTERM drains, snapshots and exits 0.
struct ServeProcessTests {
    /// A free loopback port (bound and released; fine on a test machine).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func startServer(_ executable: String, dataDir: String, port: Int) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve", "--data-dir", dataDir, "--port", "\(port)", "--appendfsync", "always", "--snapshot-interval", "0"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Connects, retrying while the server starts (bounded: 20 s).
    func connect(_ port: Int) throws -> RESPClient {
        for _ in 0..<200 {
            if let client = try? RESPClient(port: port), client.command("PING") == .simple("PONG") { return client }
            usleep(100_000)
        }
        throw RESPClient.ClientError(message: "server on port \(port) did not come up")
    }

    @Test func sigkillLosesNoAcknowledgedWriteWithAppendfsyncAlways() throws {
        let executable = try #require(builtExecutable(named: "cohort"), "the cohort executable is not built next to the tests")
        let directory = TemporaryDirectory("cohort-serve-kill")
        defer { directory.remove() }
        let port = Self.freePort()
        var server = try startServer(executable, dataDir: directory.path, port: port)
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        var client = try connect(port)
        #expect(client.command("ATTR.DEFINE", "n", "int") == .simple("OK"))
        #expect(client.command("EVENT.DEFINE", "ride", "cost:float") == .simple("OK"))
        var acknowledged = 0
        for k in 0..<300 {
            guard client.command("USER.SET", "u\(k)", "n", "\(k)") == .simple("OK"),
                client.command("EVENT.ADD", "u\(k)", "ride", "\(1_780_000_000 + k)", "cost", "1") == .simple("OK")
            else { break }
            acknowledged = k + 1
            if k == 150 { #expect(client.command("SNAPSHOT") == .simple("OK")) }
        }
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()

        server = try startServer(executable, dataDir: directory.path, port: port)
        client = try connect(port)
        #expect(acknowledged == 300)
        for k in 0..<acknowledged {
            guard client.command("AGG.GET", "u\(k)", "n", "count(ride)") == .array([.integer(k), .integer(1)]) else {
                Issue.record("acknowledged writes of u\(k) are missing after SIGKILL")
                break
            }
        }
        kill(server.processIdentifier, SIGTERM)
        server.waitUntilExit()
    }

    @Test func sigtermDrainsSnapshotsAndExitsZero() throws {
        let executable = try #require(builtExecutable(named: "cohort"), "the cohort executable is not built next to the tests")
        let directory = TemporaryDirectory("cohort-serve-term")
        defer { directory.remove() }
        let port = Self.freePort()
        let server = try startServer(executable, dataDir: directory.path, port: port)
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        let client = try connect(port)
        #expect(client.command("ATTR.DEFINE", "n", "int") == .simple("OK"))
        #expect(client.command("USER.SET", "a", "n", "1") == .simple("OK"))
        kill(server.processIdentifier, SIGTERM)
        server.waitUntilExit()
        #expect(server.terminationReason == .exit && server.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: directory.file("snapshot.cohort")))
        // Everything is in the snapshot: the journal after it is empty (its header only).
        let journals = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("journal-") }
        #expect(journals.count == 1)
        let size = try FileManager.default.attributesOfItem(atPath: directory.file(journals[0]))[.size] as? Int
        #expect(size == 16)
    }
}
