import ArgumentParser
import CohortCore

/// Loads a definitions file and CSV files into an engine, reporting progress on
/// standard error. Shared by `load` and by `run` on the demo data.
struct DatasetLoader {
    var schema: String
    var users: String?
    var events: String?
    var rejects: String?
    var quiet = false

    func load(into engine: Engine) throws {
        let text: String
        do { text = try String(contentsOfFile: schema, encoding: .utf8) } catch {
            throw CLIError("cannot read \(schema): \(error.localizedDescription)")
        }
        do {
            try DefinitionsScript.run(text, file: schema, on: engine)
        } catch {
            throw CLIError(error)
        }
        let quiet = self.quiet
        var options = LoadOptions(progress: { p in
            if !quiet, p.totalBytes > 64 << 20 {
                note("load \(p.file): \(formatCount(Double(p.rows))) rows, \(formatCount(p.rowsPerSecond)) rows/s")
            }
        })
        do {
            options.rejects = try rejects.map { (path) throws(CohortError) in try RejectsFile(path: path) }
        } catch {
            throw CLIError(error)
        }
        for (path, isUsers) in [(users, true), (events, false)] {
            guard let path else { continue }
            do {
                let report = try engine.withExclusiveAccess { (db) throws(CohortError) in
                    isUsers
                        ? try BulkLoader.loadUsers(path: path, into: &db, options: options)
                        : try BulkLoader.loadEvents(path: path, into: &db, options: options)
                }
                if !quiet {
                    var line =
                        "loaded \(report.file): \(report.rows) rows in \(String(format: "%.2f", report.seconds)) s (\(formatCount(Double(report.rows) / max(report.seconds, 1e-9))) rows/s)"
                    if report.rejected > 0 {
                        line += ", \(report.rejected) rejected rows written to \(options.rejects!.path)"
                        for reason in report.firstRejections { line += "\n  \(reason)" }
                    }
                    note(line)
                }
            } catch {
                throw CLIError(error)
            }
        }
        // Watched segments follow the load (FEATURES §1.5.5: entries `cause load`).
        engine.reevaluateWatchesAfterLoad()
        // A rejected row that did not reach the disk fails the load (checked writes).
        do { try options.rejects?.close() } catch { throw CLIError(error) }
    }
}

struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bulk-load a definitions file and CSV files into a data directory and write its snapshot.",
        discussion: "All or nothing: a bad row (without --skip-bad-rows) or a crash leaves the data directory as it was."
    )

    @Option(help: "Data directory to load into (created if missing); without it the files are only checked and summarised.")
    var dataDir: String?
    @Option(help: "Definitions file (schema.cohort).") var schema: String
    @Option(help: "users.csv") var users: String?
    @Option(help: "events.csv") var events: String?
    @Option(help: "Write rejected rows of both CSVs to FILE (columns source,line,reason,row) instead of failing.") var skipBadRows: String?

    func run() throws {
        let loader = DatasetLoader(schema: schema, users: users, events: events, rejects: skipBadRows)
        guard let dataDir else {
            let engine = Engine()
            try loader.load(into: engine)
            print(summary(engine))
            return
        }
        let (directory, engine) = try openDataDirectory(dataDir, create: true, now: nil)
        try loadWithoutJournal(directory, engine) { try loader.load(into: engine) }
        try closeDataDirectory(directory)
        print(summary(engine))
    }
}

/// `users N events N` and bytes per event.
func summary(_ engine: Engine) -> String {
    engine.read { db in
        let events = db.events.liveCount
        let userTime = db.events.tables.reduce(0) { $0 + $1.userTimeBytes }
        return
            "users \(db.users.liveCount) events \(events) memory_bytes \(db.memoryBytes) user_time_bytes_per_event \(events > 0 ? String(format: "%.2f", Double(userTime) / Double(events)) : "0")"
    }
}
