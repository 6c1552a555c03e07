import Benchmark
import CohortCore
import Foundation

/// Cohort's own benchmarks at `COHORT_BENCH_USERS` users (default 1,000,000; 5000000 or
/// 10000000 for the larger rows), on data made by the generator (seed 42) and cached in
/// `COHORT_BENCH_DIR` (default /tmp/cohort-bench-N): ingest (CSV, EVENT.ADD), segment
/// questions (the ones Benchmarks/compare also asks DuckDB), nested segments, overlap of 5
/// segments, AGG.STATS, SEGMENT.CHECK, snapshot write and load, memory per user and event.
///
/// Run: `COHORT_BENCHMARKS=1 swift package -c release benchmark --target CohortBenchmarks`
/// (Benchmarks/compare runs the DuckDB peer on the same files).
let benchmarks: @Sendable () -> Void = {
    let users = Int(ProcessInfo.processInfo.environment["COHORT_BENCH_USERS"] ?? "") ?? 1_000_000
    let directory = ProcessInfo.processInfo.environment["COHORT_BENCH_DIR"] ?? "/tmp/cohort-bench-\(users)"

    func ensureData() {
        if !FileManager.default.fileExists(atPath: directory + "/events.csv") {
            _ = try! DatasetGenerator.write(GeneratorOptions(users: users, seed: 42), to: directory)
        }
    }

    func loadedEngine() -> Engine {
        ensureData()
        let engine = Engine()
        try! DefinitionsScript.run(try! String(contentsOfFile: directory + "/schema.cohort", encoding: .utf8), file: "schema.cohort", on: engine)
        try! engine.withExclusiveAccess { (db) throws(CohortError) in
            _ = try BulkLoader.loadUsers(path: directory + "/users.csv", into: &db)
            _ = try BulkLoader.loadEvents(path: directory + "/events.csv", into: &db)
        }
        return engine
    }

    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .peakMemoryResident, .mallocCountTotal],
        timeUnits: .milliseconds,
        maxDuration: .seconds(120),
        maxIterations: 5
    )

    Benchmark("CSV load users.csv + events.csv (\(users) users)", configuration: .init(maxIterations: 3, setup: ensureData)) { benchmark in
        for _ in benchmark.scaledIterations {
            var db = Database()
            let engine = Engine()
            try DefinitionsScript.run(try String(contentsOfFile: directory + "/schema.cohort", encoding: .utf8), file: "schema.cohort", on: engine)
            db = engine.snapshotView()
            benchmark.startMeasurement()
            let u = try BulkLoader.loadUsers(path: directory + "/users.csv", into: &db)
            let e = try BulkLoader.loadEvents(path: directory + "/events.csv", into: &db)
            benchmark.stopMeasurement()
            blackHole((u, e))
        }
    }

    // EVENT.ADD through the command table (parse, validate, append), 100k per iteration.
    Benchmark(
        "EVENT.ADD x100k via command table",
        configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .milliseconds, maxIterations: 10)
    ) { benchmark in
        let engine = Engine(fixedNow: 1_782_864_000)
        try DefinitionsScript.run(DemoSchema.text, file: "schema.cohort", on: engine)
        var commands: [[String]] = []
        for i in 0..<100_000 {
            commands.append(["EVENT.ADD", "u\(i % 50_000)", "ride", String(1_780_000_000 + i), "distance_km", "4.5", "cost", "12.30", "car", "i3"])
        }
        benchmark.startMeasurement()
        for words in commands { blackHole(engine.execute(words)) }
        benchmark.stopMeasurement()
    }

    // Segment questions at `users` users, warm (data loaded once, outside the measurement).
    // The same questions run against DuckDB in Benchmarks/compare_queries.py.
    nonisolated(unsafe) var shared: Engine?
    func engine() -> Engine {
        if let shared { return shared }
        let e = loadedEngine()
        shared = e
        return e
    }
    let now = "2026-07-01"
    let questions: [(String, [String])] = [
        ("attribute-only, 3 predicates", ["SEGMENT.COUNT", #"plan = "pro" and country in ("PL", "DE") and verified"#, "AT", now]),
        ("count(ride, last 30d) >= 5", ["SEGMENT.COUNT", "count(ride, last 30d) >= 5", "AT", now]),
        ("mixed: attribute + sum window + last", ["SEGMENT.COUNT", "verified and sum(ride.cost, last 90d) > 150 and last(ride) >= now - 14d", "AT", now]),
        ("sum over a window", ["SEGMENT.COUNT", "sum(ride.cost, last 90d) > 150", "AT", now]),
        ("first/last", ["SEGMENT.COUNT", "last(ride) >= now - 7d and first(ride) < now - 60d", "AT", now]),
        ("where-filtered count", ["SEGMENT.COUNT", #"count(ride where distance_km > 10 and car = "i3_premium", last 30d) >= 1"#, "AT", now]),
        ("defined segment premium_eligible", ["SEGMENT.COUNT", "premium_eligible", "AT", now]),
        (
            "nested segments",
            ["SEGMENT.COUNT", "segment(premium_eligible) and not segment(dormant_riders) and (segment(big_spenders) or segment(new_users))", "AT", now]
        ),
        (
            "overlap of 5 segments",
            ["SEGMENT.OVERLAP", "premium_eligible", "new_users", "dormant_riders", "big_spenders", "expiring_subscription", "AT", now]
        ),
        ("AGG.STATS over a segment", ["AGG.STATS", "sum(ride.cost, last 90d)", "IN", "premium_eligible", "AT", now]),
    ]
    for (name, words) in questions {
        Benchmark(
            "Segment: \(name) (\(users) users)",
            configuration: .init(metrics: [.wallClock], timeUnits: .microseconds, maxDuration: .seconds(20), maxIterations: 50, setup: { _ = engine() })
        ) { benchmark in
            let e = engine()
            benchmark.startMeasurement()
            blackHole(e.execute(words))
        }
    }
    Benchmark(
        "SEGMENT.CHECK premium_eligible one user (\(users) users)",
        configuration: .init(metrics: [.wallClock], timeUnits: .microseconds, maxDuration: .seconds(10), maxIterations: 10_000, setup: { _ = engine() })
    ) { benchmark in
        let e = engine()
        let words = ["SEGMENT.CHECK", "premium_eligible", "u0000042", "AT", now]
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(e.execute(words)) }
    }

    // Snapshots of the loaded data: write (encode, compress, fsync) and load (verify,
    // decompress, decode) of the file the data directory keeps.
    let snapshotPath = NSTemporaryDirectory() + "cohort-benchmark-\(users).cohort"
    Benchmark(
        "Snapshot write (\(users) users)",
        configuration: .init(metrics: [.wallClock], timeUnits: .milliseconds, maxDuration: .seconds(120), maxIterations: 5, setup: { _ = engine() })
    ) { benchmark in
        let db = engine().snapshotView()
        for _ in benchmark.scaledIterations {
            blackHole(try SnapshotWriter.write(db, meta: SnapshotMeta(createdAt: 0, journalGeneration: 1), to: snapshotPath))
        }
    }
    Benchmark(
        "Snapshot load (\(users) users)",
        configuration: .init(
            metrics: [.wallClock, .peakMemoryResident], timeUnits: .milliseconds, maxDuration: .seconds(120), maxIterations: 5,
            setup: {
                if !FileManager.default.fileExists(atPath: snapshotPath) {
                    _ = try SnapshotWriter.write(engine().snapshotView(), meta: SnapshotMeta(createdAt: 0, journalGeneration: 1), to: snapshotPath)
                }
            })
    ) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try SnapshotReader.read(path: snapshotPath)) }
    }

    // Memory after a full load: the process's resident growth per user and per event (the
    // benchmark runs in a process of its own), and the engine's own accounting split into
    // the user side (ids, attributes, indexes) and the event side.
    Benchmark(
        "Memory per user and per event (\(users) users)",
        configuration: .init(
            metrics: [
                .custom("resident_bytes_per_user"), .custom("resident_bytes_per_event"), .custom("user_side_bytes_per_user"),
                .custom("event_bytes_per_event"), .custom("user_time_bytes_per_event"),
            ], maxIterations: 1, setup: ensureData)
    ) { benchmark in
        let before = ProcessMemory.residentBytes()
        let engine = loadedEngine()
        let resident = ProcessMemory.residentBytes() - before
        let (userTime, eventBytes, events, total, userCount) = engine.read { db in
            (
                db.events.tables.reduce(0) { $0 + $1.userTimeBytes }, db.events.memoryBytes, db.events.liveCount, db.memoryBytes,
                db.users.liveCount
            )
        }
        // Custom metrics are integers: bytes are reported x100 (two decimals).
        benchmark.measurement(.custom("resident_bytes_per_user"), resident * 100 / max(userCount, 1))
        benchmark.measurement(.custom("resident_bytes_per_event"), resident * 100 / max(events, 1))
        benchmark.measurement(.custom("user_side_bytes_per_user"), (total - eventBytes) * 100 / max(userCount, 1))
        benchmark.measurement(.custom("event_bytes_per_event"), eventBytes * 100 / max(events, 1))
        benchmark.measurement(.custom("user_time_bytes_per_event"), userTime * 100 / max(events, 1))
    }
}
