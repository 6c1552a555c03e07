import CohortCore
import CohortTestSupport
import Foundation
import Testing

/// `cohort serve` as a process: SIGKILL loses no acknowledged write with
/// `appendfsync always`, and SIGTERM drains, snapshots and exits 0.
struct ServeProcessTests {
    @Test func sigkillLosesNoAcknowledgedWriteWithAppendfsyncAlways() throws {
        let directory = TemporaryDirectory("cohort-serve-kill")
        defer { directory.remove() }
        let arguments = ["--data-dir", directory.path, "--appendfsync", "always", "--snapshot-interval", "0"]
        var server = try ServedProcess(arguments)
        var client = try server.connect()
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
        server.stop(SIGKILL)

        server = try ServedProcess(arguments)
        client = try server.connect()
        #expect(acknowledged == 300)
        for k in 0..<acknowledged {
            guard client.command("AGG.GET", "u\(k)", "n", "count(ride)") == .array([.integer(k), .integer(1)]) else {
                Issue.record("acknowledged writes of u\(k) are missing after SIGKILL")
                break
            }
        }
        server.stop(SIGTERM)
    }

    @Test func sigtermDrainsSnapshotsAndExitsZero() throws {
        let directory = TemporaryDirectory("cohort-serve-term")
        defer { directory.remove() }
        let server = try ServedProcess(["--data-dir", directory.path, "--snapshot-interval", "0"])
        let client = try server.connect()
        #expect(client.command("ATTR.DEFINE", "n", "int") == .simple("OK"))
        #expect(client.command("USER.SET", "a", "n", "1") == .simple("OK"))
        server.stop(SIGTERM)
        #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: directory.file("snapshot.cohort")))
        // Everything is in the snapshot: the journal after it is empty (its header only).
        let journals = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("journal-") }
        #expect(journals.count == 1)
        let size = try FileManager.default.attributesOfItem(atPath: directory.file(journals[0]))[.size] as? Int
        #expect(size == 16)
    }
}
