import ArgumentParser
import CohortCore
import Foundation

/// Opens a data directory for a command, reporting recovery on standard error.
func openDataDirectory(
    _ path: String, create: Bool, now: Int64?, appendfsync: AppendFsync = .everysec, quiet: Bool = false
) throws -> (DataDirectory, Engine) {
    do {
        let (directory, engine, recovery) = try DataDirectory.open(path, create: create, appendfsync: appendfsync, fixedNow: now)
        for warning in recovery.warnings { note("warning: \(warning)") }
        if !quiet, recovery.seconds > 1 {
            note(
                String(
                    format: "opened %@: snapshot %.2f s, %d journal records replayed, %.2f s in all", path, recovery.snapshotSeconds,
                    recovery.journalRecords, recovery.seconds))
        }
        return (directory, engine)
    } catch {
        throw CLIError(error)
    }
}

/// A fresh temporary data directory holding the demo dataset (data/ is only read).
/// Removed by `removeTemporaryDirectory` when the command ends.
func openDemoDirectory(_ demo: String, now: Int64?, appendfsync: AppendFsync = .everysec) throws -> (DataDirectory, Engine, String) {
    let template = NSTemporaryDirectory() + "cohort-demo-XXXXXX"
    var bytes = Array(template.utf8CString)
    guard let made = mkdtemp(&bytes) else { throw CLIError("cannot create a temporary directory: \(String(cString: strerror(errno)))") }
    let path = String(cString: made)
    let (directory, engine) = try openDataDirectory(path, create: false, now: now, appendfsync: appendfsync, quiet: true)
    try loadWithoutJournal(directory, engine) {
        try DatasetLoader(schema: demo + "/schema.cohort", users: demo + "/users.csv", events: demo + "/events.csv", quiet: true).load(into: engine)
    }
    return (directory, engine, path)
}

/// Runs a bulk load with the journal detached, then snapshots: on disk the load is all
/// or nothing (a crash before the snapshot's rename leaves the directory as it was).
func loadWithoutJournal(_ directory: DataDirectory, _ engine: Engine, _ body: () throws -> Void) throws {
    engine.attach(sink: nil)
    try body()
    do {
        let report = try directory.snapshot(engine)
        engine.attach(sink: directory.journal)
        if report.seconds > 1 {
            note(
                String(
                    format: "snapshot %@: %.1f MB (%.1f MB uncompressed) in %.2f s", report.path, Double(report.fileBytes) / 1e6,
                    Double(report.uncompressedBytes) / 1e6, report.seconds))
        }
    } catch {
        throw CLIError(error)
    }
}

func removeTemporaryDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

func closeDataDirectory(_ directory: DataDirectory) throws {
    do { try directory.close() } catch { throw CLIError(error) }
}
