import CohortCore
import CohortTestSupport
import Foundation
import Testing

/// Populations larger than one evaluation chunk (8,192 users): the parallel batch path
/// (`SEGMENT.MEMBERS`, `AGG.STATS`) must agree with the one-user scalar path
/// (`SEGMENT.CHECK`, `AGG.GET`) for every user.
struct ParallelEvaluationTests {
    @Test func batchAndScalarPathsAgreeAcrossManyChunks() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        _ = try DatasetGenerator.write(GeneratorOptions(users: 20_000, seed: 12, days: 120), to: dir.path)
        let engine = Engine(fixedNow: 1_782_864_000)
        try DefinitionsScript.run(try String(contentsOfFile: dir.file("schema.cohort"), encoding: .utf8), file: "schema.cohort", on: engine)
        try engine.withExclusiveAccess { (db) throws(CohortError) in
            _ = try BulkLoader.loadUsers(path: dir.file("users.csv"), into: &db)
            _ = try BulkLoader.loadEvents(path: dir.file("events.csv"), into: &db)
        }
        let users = engine.read { db in (0..<UInt32(db.users.rowCount)).map { db.users.id(of: $0) } }
        for target in [
            "premium_eligible", "count(ride, last 30d) >= 3", #"count(ride where car = "i3" or cost > 20, last 60d) >= 2"#,
            "avg(purchase.amount, from now - 90d to now - 10d) > 40 or last(app_open) < now - 60d",
        ] {
            guard case .array(let parts) = engine.execute(["SEGMENT.MEMBERS", target, "COUNT", "100000"]), case .array(let ids) = parts[1] else {
                Issue.record("MEMBERS failed for \(target)")
                continue
            }
            let batch = Set(ids.map { if case .bulk(let s) = $0 { s } else { "?" } })
            let scalar = Set(users.filter { engine.execute(["SEGMENT.CHECK", target, $0]) == .integer(1) })
            #expect(batch == scalar, "\(target): \(batch.count) vs \(scalar.count)")
            #expect(batch.count > 0)
        }
        // AGG.STATS (batch) against AGG.GET (scalar) summed user by user.
        let expression = "sum(ride.cost, last 90d)"
        var sum = 0.0
        for user in users {
            if case .array(let values) = engine.execute(["AGG.GET", user, expression]), case .double(let v) = values[0] { sum += v }
        }
        guard case .array(let stats) = engine.execute(["AGG.STATS", expression]), case .double(let total) = stats[2] else {
            Issue.record("AGG.STATS failed")
            return
        }
        #expect(stats[0] == .integer(20_000) && stats[1] == .integer(20_000))
        #expect(abs(total - sum) <= 1e-6 * sum)
    }
}
