import CohortCore
import Foundation

/// The demo time of generated data: 2026-07-01T00:00:00Z, `cohort gen`'s default end.
public let demoNow: Int64 = 1_782_864_000

/// Generates `users` demo users with `cohort gen`'s generator into `directory` and loads
/// them (definitions, users, events) into `engine`.
public func loadGeneratedDemo(users: Int, seed: UInt64 = 7, directory: String, into engine: Engine) throws {
    _ = try DatasetGenerator.write(GeneratorOptions(users: users, seed: seed), to: directory)
    let schema = try String(contentsOfFile: directory + "/schema.cohort", encoding: .utf8)
    try DefinitionsScript.run(schema, file: "schema.cohort", on: engine)
    try engine.withExclusiveAccess { (db) throws(CohortError) in
        _ = try BulkLoader.loadUsers(path: directory + "/users.csv", into: &db)
        _ = try BulkLoader.loadEvents(path: directory + "/events.csv", into: &db)
    }
}

/// An engine on a fixed clock at `now` with the demo schema's definitions and no data.
public func demoSchemaEngine(now: Int64 = demoNow) throws -> Engine {
    let engine = Engine(fixedNow: now, clock: { now })
    try DefinitionsScript.run(DemoSchema.text, file: "schema", on: engine)
    return engine
}

extension Engine {
    /// Runs an inline command line (`SEGMENT.COUNT "a and b"`).
    @discardableResult
    public func run(_ line: String) -> Reply {
        execute((try? InlineCommand.split(line)) ?? [])
    }
}
