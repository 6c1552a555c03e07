import ArgumentParser
import CohortCore
import Dispatch
import Foundation

struct Recompute: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Batch recompute of a segment: write its members, report who entered and exited, store the membership.",
        discussion: """
            Refreshes the named segment against the membership stored by the previous recompute (or SEGMENT.REFRESH),
            writes the members one user id a line, sorted bytewise, and prints
            `members N entered N exited N elapsed_ms N`. The new membership is journaled and snapshotted, so the next
            recompute reports changes against this one.
            """
    )

    @Option(help: "Data directory.") var dataDir: String
    @Option(help: "Name of a defined segment.") var segment: String
    @Option(help: "Evaluation time (Unix seconds or ISO-8601); default: the clock.") var now: TimeOption?
    @Option(help: "Members file; default DIR/SEGMENT.members.") var out: String?

    func run() throws {
        let (directory, engine) = try openDataDirectory(dataDir, create: false, now: now?.seconds)
        let start = DispatchTime.now().uptimeNanoseconds
        let at = engine.environment.now
        let reply = engine.execute(["SEGMENT.REFRESH", segment, "AT", String(at)])
        guard case .array(let counts) = reply, counts.count == 3,
            case .integer(let members) = counts[0], case .integer(let entered) = counts[1], case .integer(let exited) = counts[2]
        else {
            try? closeDataDirectory(directory)
            if case .error(let error) = reply { throw CLIError(error) }
            throw CLIError("unexpected reply to SEGMENT.REFRESH: \(reply)")
        }
        let path = out ?? "\(dataDir)/\(segment).members"
        do {
            try engine.read { (db) throws(CohortError) in try MembersFile.write(db.memberships[segment] ?? Bitmap(), of: db.users, to: path) }
        } catch {
            try? closeDataDirectory(directory)
            throw CLIError(error)
        }
        let elapsed = (DispatchTime.now().uptimeNanoseconds - start) / 1_000_000
        print("members \(members) entered \(entered) exited \(exited) elapsed_ms \(elapsed)")
        do { try directory.snapshot(engine) } catch { note("warning: the membership is journaled but the snapshot failed: \(error.message)") }
        try closeDataDirectory(directory)
    }
}
