import CohortCore
import CohortTestSupport
import Foundation
import Testing

/// Kills a `cohort run --data-dir` child with SIGKILL at random moments while it
/// applies mutations and takes snapshots, then checks that every mutation whose reply
/// the child had printed (acknowledged) is in the recovered state, and nothing twice.
/// The child merges event deltas every few dozen events, so kills land during
/// background merges and snapshots with writes streaming.
struct CrashRecoveryTests {

    @Test func acknowledgedMutationsSurviveSIGKILLAtRandomPoints() throws {
        let executable = try #require(builtExecutable(named: "cohort"), "the cohort executable is not built next to the tests")
        signal(SIGPIPE, SIG_IGN)
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let (dataDirectory, engine, _) = try DataDirectory.open(directory.path, create: true)
            for line in ["ATTR.DEFINE n int", "EVENT.DEFINE ride cost:float"] { #expect(engine.run(line) == .ok) }
            try dataDirectory.close()
        }
        var rng = SplitMix(seed: 2026)
        var acknowledged: [(user: String, n: Int)] = []
        var acknowledgedRides: [String: Int] = [:]
        var sentRides: [String: Int] = [:]
        for round in 0..<5 {
            var commands: [String] = []
            var expectations: [(user: String, n: Int)?] = []
            for k in 0..<20_000 {
                let user = "r\(round)u\(k % 500)"
                if k % 40 == 39 {
                    commands.append("SNAPSHOT")
                    expectations.append(nil)
                } else if k % 2 == 0 {
                    commands.append("USER.SET \(user) n \(k)")
                    expectations.append((user, k))
                } else {
                    commands.append("EVENT.ADD \(user) ride \(1_780_000_000 + k) cost 1")
                    expectations.append((user, -1))
                    sentRides[user, default: 0] += 1
                }
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["run", "--data-dir", directory.path, "--merge-threshold", "40"]
            let input = Pipe()
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let script = Array((commands.joined(separator: "\n") + "\n").utf8)
            let writer = input.fileHandleForWriting.fileDescriptor
            let feeder = Thread {
                script.withUnsafeBytes { raw in
                    var done = 0
                    while done < raw.count {
                        let n = write(writer, raw.baseAddress! + done, raw.count - done)
                        if n <= 0 { break }
                        done += n
                    }
                }
            }
            feeder.start()
            usleep(UInt32(50_000 + rng.next() % 400_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            try? input.fileHandleForWriting.close()
            let replies = printed.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            // Only complete lines count; every one must be OK, in command order.
            #expect(replies.allSatisfy { $0 == "OK" }, "\(replies.filter { $0 != "OK" }.prefix(3))")
            for k in 0..<min(replies.count, commands.count) {
                guard let expectation = expectations[k] else { continue }
                if expectation.n < 0 { acknowledgedRides[expectation.user, default: 0] += 1 } else { acknowledged.append(expectation) }
            }

            // Recover in-process and check every acknowledged write (later ones overwrite earlier for a user).
            let (dataDirectory, engine, _) = try DataDirectory.open(directory.path, create: false)
            var latest: [String: Int] = [:]
            for a in acknowledged { latest[a.user] = max(latest[a.user] ?? -1, a.n) }
            for (user, n) in latest {
                guard case .map(let entries) = engine.run("USER.GET \(user)"),
                    let value = entries.first(where: { $0.key == .bulk("n") })?.value, case .integer(let stored) = value
                else {
                    Issue.record("round \(round): acknowledged USER.SET \(user) n \(n) is missing")
                    continue
                }
                // A later, unacknowledged write may have landed too, never an older value.
                #expect(stored >= Int64(n), "round \(round): \(user) has n \(stored), acknowledged \(n)")
            }
            // Every acknowledged event is there, none twice (each was sent once).
            for (user, sent) in sentRides {
                guard case .array(let values) = engine.run("AGG.GET \(user) count(ride)"), let value = values.first else {
                    Issue.record("round \(round): AGG.GET \(user) failed")
                    continue
                }
                // An unknown user (none of its writes arrived) answers null.
                let count: Int64 = if case .integer(let n) = value { n } else { 0 }
                #expect(count >= Int64(acknowledgedRides[user] ?? 0) && count <= Int64(sent), "round \(round): \(user) has \(count) rides, acknowledged \(acknowledgedRides[user] ?? 0), sent \(sent)")
            }
            try dataDirectory.close()
        }
        #expect(acknowledgedRides.values.reduce(0, +) > 0, "no event was acknowledged before a kill")
        #expect(acknowledged.count > 0, "the child acknowledged nothing before being killed")
    }
}
