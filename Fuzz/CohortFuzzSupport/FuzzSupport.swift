import CFuzzer
import CohortCore
import Foundation

/// Runs libFuzzer with this process's command line (`-max_total_time=...`, corpus
/// directories), calling `test` with each input, and exits with libFuzzer's status.
public func runFuzzer(_ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    // libFuzzer reads (and may reorder) the argument vector; it is the process's own.
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, test))
}

/// What every fuzz target shares: a scratch file for readers that take a path, and a
/// small fixed population to evaluate expressions against.
public enum FuzzSupport {
    /// A file this process owns, rewritten for each input.
    public static let scratchPath = NSTemporaryDirectory() + "cohort-fuzz-\(getpid())"

    /// Writes `bytes` to the scratch file and runs `body` with its path.
    public static func withFile<T>(_ bytes: UnsafeRawBufferPointer, _ body: (String) throws -> T) rethrows -> T {
        let data = Data(bytes)
        FileManager.default.createFile(atPath: scratchPath, contents: data)
        return try body(scratchPath)
    }

    /// A database with the demo schema and definitions and no data; copies are cheap.
    public static let schema: Database = {
        let now: Int64 = 1_782_864_000
        let engine = Engine(fixedNow: now, clock: { now })
        do { try DefinitionsScript.run(DemoSchema.text, file: "schema", on: engine) } catch {
            fatalError("the demo schema does not load: \(error)")
        }
        return engine.read { $0 }
    }()

    /// The demo schema (every attribute and property type, segments and aggregates) over
    /// 40 generated users, on a fixed clock; built once per process.
    public static let population: (engine: Engine, users: [String]) = {
        let directory = NSTemporaryDirectory() + "cohort-fuzz-population-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            _ = try DatasetGenerator.write(GeneratorOptions(users: 40, seed: 3), to: directory)
            let now: Int64 = 1_782_864_000
            let engine = Engine(fixedNow: now, clock: { now })
            let schema = try String(contentsOfFile: directory + "/schema.cohort", encoding: .utf8)
            try DefinitionsScript.run(schema, file: "schema.cohort", on: engine)
            try engine.withExclusiveAccess { (db) throws(CohortError) in
                _ = try BulkLoader.loadUsers(path: directory + "/users.csv", into: &db)
                _ = try BulkLoader.loadEvents(path: directory + "/events.csv", into: &db)
            }
            let users = engine.read { db in (0..<db.users.rowCount).map { db.users.id(of: UInt32($0)) } }
            return (engine, users)
        } catch {
            fatalError("the fuzz population could not be built: \(error)")
        }
    }()
}
