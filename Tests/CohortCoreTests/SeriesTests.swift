@testable import CohortCore
import CohortTestSupport
import Foundation
import Testing

/// Time series (FEATURES §4): the worked examples of §4.4 that need neither
/// `bucket_start`/`bucket_end` nor `RECORDED`, bucket boundaries (weeks, months, offsets,
/// `LAST n`, the bucket limit), and a differential test of `SERIES.EVENTS` against
/// per-bucket `AGG.STATS` / `SEGMENT.COUNT` with `from A to B` windows.
struct SeriesTests {
    func series(_ rows: [(String, Reply, Bool)]) -> Reply {
        .array(rows.map { .array([.bulk($0.0), $0.1, .bool($0.2)]) })
    }

    @Test func workedExamplesOfSection4_4() throws {
        let engine = try demoSchemaEngine()
        for (user, t) in [
            ("a", "2026-06-01T08:00:00Z"), ("a", "2026-06-02T23:59:59Z"), ("a", "2026-06-03T00:00:00Z"), ("b", "2026-05-31T23:59:59Z"),
            ("b", "2026-06-02T12:00:00Z"), ("c", "2026-06-03T18:00:00Z"),
        ] {
            engine.run("EVENT.ADD \(user) app_open \(t)")
        }
        let range = "BY day FROM 2026-06-01 TO 2026-06-04 AT 2026-06-03T12:00:00Z"
        let days = ["2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z", "2026-06-03T00:00:00Z"]
        #expect(
            engine.run("SERIES.EVENTS users(app_open) \(range)")
                == series([(days[0], .integer(1), true), (days[1], .integer(2), true), (days[2], .integer(1), false)]))
        #expect(
            engine.run("SERIES.COUNT \"count(app_open, last 1d) >= 1\" \(range)")
                == series([(days[0], .integer(2), true), (days[1], .integer(2), true), (days[2], .integer(2), false)]))
        #expect(
            engine.run("SERIES.COUNT \"count(app_open, from bucket_start to bucket_end) >= 1\" \(range)")
                == series([(days[0], .integer(1), true), (days[1], .integer(2), true), (days[2], .integer(1), false)]))
        // The names exist only in SERIES.* expressions, and a filter sees them too.
        guard case .error(let e) = engine.run("SEGMENT.COUNT \"count(app_open, from bucket_start to bucket_end) >= 1\"") else {
            Issue.record("bucket_start outside a series is refused")
            return
        }
        #expect(e.message.hasPrefix("unknown attribute 'bucket_start'"))
        #expect(
            engine.run("SERIES.EVENTS \"count(app_open where bucket_end - bucket_start = 1d)\" \(range)")
                == series([(days[0], .integer(1), true), (days[1], .integer(2), true), (days[2], .integer(1), false)]))

        for (user, t, amount) in [
            ("a", "2026-06-01T10:00:00Z", "20.0"), ("a", "2026-06-07T23:59:59Z", "5.5"), ("a", "2026-06-08T00:00:00Z", "10.0"),
            ("b", "2026-06-03T09:00:00Z", "100.0"), ("c", "2026-06-09T15:00:00Z", "7.25"), ("c", "2026-06-11T09:00:00Z", "3.0"),
        ] {
            engine.run("EVENT.ADD \(user) purchase \(t) amount \(amount)")
        }
        for (user, plan) in [("a", "pro"), ("b", "free"), ("c", "pro")] { engine.run("USER.SET \(user) plan \(plan)") }
        #expect(
            engine.run(#"SERIES.EVENTS sum(purchase.amount) BY week FROM 2026-06-03 TO 2026-06-15 IN "plan = \"pro\"" AT 2026-06-10T00:00:00Z"#)
                == series([("2026-06-01T00:00:00Z", .double(25.5), true), ("2026-06-08T00:00:00Z", .double(17.25), false)]))
        // Recomputed: today's attribute applies to the past.
        engine.run("SEGMENT.DEFINE pros \"plan = \\\"pro\\\"\"")
        #expect(
            engine.run("SERIES.COUNT pros BY day LAST 3 AT 2026-06-03T12:00:00Z")
                == series([(days[0], .integer(2), true), (days[1], .integer(2), true), (days[2], .integer(2), false)]))
    }

    @Test func bucketBoundariesOffsetsAndLimits() throws {
        let engine = try demoSchemaEngine()
        engine.run("EVENT.ADD a app_open 2026-05-31T22:30:00Z")  // 06-01 00:30 at +02:00
        engine.run("EVENT.ADD a app_open 2026-06-30T23:59:59Z")
        engine.run("EVENT.ADD a app_open 2026-07-01T00:00:00Z")
        // Months: June whole (05-31T22:30Z is May in UTC), July open at now (07-01T00:00:00Z).
        #expect(
            engine.run("SERIES.EVENTS count(app_open) BY month FROM 2026-06-15 TO 2026-07-02")
                == series([("2026-06-01T00:00:00Z", .integer(1), true), ("2026-07-01T00:00:00Z", .integer(1), false)]))
        #expect(
            engine.run("SERIES.EVENTS count(app_open) BY month FROM 2026-05-15 TO 2026-07-02 OFFSET +02:00")
                == series([
                    ("2026-04-30T22:00:00Z", .integer(0), true), ("2026-05-31T22:00:00Z", .integer(1), true), ("2026-06-30T22:00:00Z", .integer(2), false),
                ]))
        // A local day at +02:00 starts at 22:00Z of the day before.
        #expect(
            engine.run("SERIES.EVENTS count(app_open) BY day FROM 2026-06-01T00:00:00+02:00 TO 2026-06-02T00:00:00+02:00 OFFSET +02:00")
                == series([("2026-05-31T22:00:00Z", .integer(1), true)]))
        // Weeks start on Monday (2026-06-29); LAST 2 ends with the bucket of now.
        #expect(
            engine.run("SERIES.EVENTS count(app_open) BY week LAST 2")
                == series([("2026-06-22T00:00:00Z", .integer(0), true), ("2026-06-29T00:00:00Z", .integer(2), false)]))
        #expect(engine.run("SERIES.EVENTS count(app_open) BY hour FROM 2026-04-01 TO 2026-05-31") == .error(.err("1440 buckets requested; at most 1000")))
        guard case .error = engine.run("SERIES.EVENTS sum(app_open) BY day LAST 2") else {
            Issue.record("sum without a property is refused")
            return
        }
        guard case .error = engine.run("SERIES.COUNT verified BY day LAST 2 RECORDED") else {
            Issue.record("RECORDED is refused until it exists")
            return
        }
    }

    /// Every function, with and without a filter, over all users, `IN` a segment and a
    /// `COHORT`, against a model of the same events reduced bucket by bucket; the events
    /// in the delta, merged into the base (`users(...)` of whole past days then comes from
    /// the activity index), or half and half with a user deleted after the merge.
    @Test(arguments: [5, 6, 7] as [UInt64], FunnelTests.Layout.allCases)
    func eventsEqualAModelBucketByBucket(seed: UInt64, layout: FunnelTests.Layout) throws {
        struct Ride {
            let user: Int
            let t: Int64
            let km: Int64
            let minutes: Int64?
            let car: String
        }
        var rng = SplitMix(seed: seed)
        let engine = try demoSchemaEngine()
        let base: Int64 = 1_780_272_000  // 2026-06-01
        var rides: [Ride] = []
        var pro: Set<Int> = []
        if layout != .delta { engine.mergeThreshold = 1 }
        for u in 0..<40 {
            if u == 20, layout == .mixed {
                engine.waitForMerges()
                engine.mergeThreshold = .max
                engine.run("USER.DEL p3")
                rides.removeAll { $0.user == 3 }
                pro.remove(3)
            }
            if rng.next() % 2 == 0 {
                let isPro = rng.next() % 2 == 0
                if isPro { pro.insert(u) }
                engine.run("USER.SET p\(u) plan \(isPro ? "pro" : "free")")
            }
            for _ in 0..<Int(rng.next() % 8) {
                let ride = Ride(
                    user: u, t: base + Int64(rng.next() % (12 * 86_400)), km: Int64(rng.next() % 30),
                    minutes: rng.next() % 4 == 0 ? nil : Int64(rng.next() % 50), car: "c\(rng.next() % 4)")
                rides.append(ride)
                engine.run("EVENT.ADD p\(u) ride \(ride.t) distance_km \(ride.km) car \(ride.car)" + (ride.minutes.map { " duration_min \($0)" } ?? ""))
            }
        }
        engine.waitForMerges()
        let now = base + 9 * 86_400 + 43_200
        let recent = Set(rides.filter { $0.t >= now - 3 * 86_400 && $0.t <= now }.map(\.user))
        let groups: [(String, (Int) -> Bool)] = [("", { _ in true }), (#" IN "plan = \"pro\"""#, { pro.contains($0) }), (#" COHORT "count(ride, last 3d) >= 1""#, { recent.contains($0) })]
        let functions: [(String, ([Ride]) -> Reply)] = [
            ("count(ride)", { .integer(Int64($0.count)) }),
            ("users(ride)", { .integer(Int64(Set($0.map(\.user)).count)) }),
            ("sum(ride.duration_min)", { .integer($0.compactMap(\.minutes).reduce(0, +)) }),
            ("avg(ride.distance_km)", { $0.isEmpty ? .null : .double(Double($0.map(\.km).reduce(0, +)) / Double($0.count)) }),
            ("min(ride.duration_min)", { $0.compactMap(\.minutes).min().map(Reply.integer) ?? .null }),
            ("max(ride.distance_km)", { $0.map(\.km).max().map { .double(Double($0)) } ?? .null }),
            ("distinct(ride.car)", { .integer(Int64(Set($0.map(\.car)).count)) }),
            ("count(ride where distance_km > 12)", { .integer(Int64($0.filter { $0.km > 12 }.count)) }),
        ]
        for (function, model) in functions {
            for (group, member) in groups {
                let command = "SERIES.EVENTS \"\(function)\" BY day FROM \(base) TO \(base + 12 * 86_400)\(group) AT \(now)"
                let expected: [Reply] = (0..<10).map { k in
                    let start = base + Int64(k) * 86_400
                    let inBucket = rides.filter { $0.t >= start && $0.t < start + 86_400 && $0.t <= now && member($0.user) }
                    return .array([.bulk(TimeFormat.format(start)), model(inBucket), .bool(now >= start + 86_400)])
                }
                #expect(engine.run(command) == .array(expected), "\(command)")
            }
        }
    }

    /// SERIES.COUNT of count-threshold segments (the shared pass, `CountSeries`) and of
    /// one that reads the clock (bucket by bucket) equals SEGMENT.COUNT at each bucket's
    /// now_b, over day and hour buckets, in every layout of the events.
    @Test(arguments: [11, 12] as [UInt64], FunnelTests.Layout.allCases)
    func countEqualsSegmentCountAtEachBucket(seed: UInt64, layout: FunnelTests.Layout) throws {
        var rng = SplitMix(seed: seed)
        let engine = try demoSchemaEngine()
        if layout != .delta { engine.mergeThreshold = 1 }
        let base: Int64 = 1_780_272_000  // 2026-06-01
        for u in 0..<50 { engine.run("USER.SET c\(u) plan \(rng.next() % 3 == 0 ? "pro" : "free")") }
        for half in 0..<2 {
            for u in 0..<50 {
                for _ in 0..<Int(rng.next() % 6) {
                    // Over 40 days before to 12 after, on few seconds (ties, window edges).
                    let t = base - 40 * 86_400 + Int64(rng.next() % 104) * 43_200 + Int64(rng.next() % 2)
                    engine.run("EVENT.ADD c\(u) \(rng.next() % 3 == 0 ? "app_open" : "ride") \(t)")
                }
            }
            if half == 0, layout == .mixed {
                engine.waitForMerges()
                engine.mergeThreshold = .max
                engine.run("USER.DEL c4")
            }
        }
        engine.waitForMerges()
        let now = base + 9 * 86_400 + 43_200
        let plans = [
            "count(ride, last 3d) >= 2",
            "count(ride, last 1.5d) > 0.5 and not count(app_open, last 2d) = 1",
            #"count(ride) < 4 or plan = \"pro\""#,
            "count(ride, last 7d) != 2",
            "count(ride, last 2d) <= 1.5 and count(ride, last 10d) >= 1 and count(app_open) >= 1",
            #"count(ride, last 2d) >= 1 and now > \"2026-06-05\""#,
        ]
        for (k, plan) in plans.enumerated() {
            let shared = CountSeries(try SegmentCommands.target(plan.replacingOccurrences(of: "\\\"", with: "\""), Evaluator(db: engine.snapshotView(), now: now), engine.environment))
            #expect((shared != nil) == (k < plans.count - 1), "\(plan): the shared pass applies exactly to count thresholds without the clock")
            for (unit, seconds, range) in [("day", Int64(86_400), "FROM \(base - 3 * 86_400) TO \(base + 12 * 86_400)"), ("hour", Int64(3600), "LAST 40")] {
                guard case .array(let rows) = engine.run("SERIES.COUNT \"\(plan)\" BY \(unit) \(range) AT \(now)") else {
                    Issue.record("SERIES.COUNT \(plan) failed")
                    return
                }
                for row in rows {
                    guard case .array(let fields) = row, case .bulk(let start) = fields[0], let t = TimeFormat.parse(start) else {
                        Issue.record("bad row \(row)")
                        return
                    }
                    let at = min(t + seconds - 1, now)
                    #expect(fields[1] == engine.run("SEGMENT.COUNT \"\(plan)\" AT \(at)"), "\(plan) BY \(unit) at \(start)")
                }
            }
        }
    }

    /// SERIES.STATS is AGG.STATS at each bucket's now_b, `bucket_start`/`bucket_end`
    /// read as the bucket's literal bounds.
    @Test func statsEqualAggStatsPerBucket() throws {
        var rng = SplitMix(seed: 9)
        let engine = try demoSchemaEngine()
        let base: Int64 = 1_780_272_000  // 2026-06-01
        for u in 0..<30 {
            engine.run("USER.SET s\(u) plan \(rng.next() % 2 == 0 ? "pro" : "free")")
            for _ in 0..<Int(rng.next() % 10) {
                engine.run("EVENT.ADD s\(u) ride \(base + Int64(rng.next() % (8 * 86_400))) distance_km \(rng.next() % 30)")
            }
        }
        let now = base + 6 * 86_400 + 3600
        for (value, group) in [("sum(ride.distance_km, last 2d)", #" IN "count(ride, last 1d) >= 1""#), ("count(ride, from bucket_start to bucket_end)", "")] {
            guard case .array(let rows) = engine.run("SERIES.STATS \"\(value)\" BY day FROM \(base) TO \(base + 8 * 86_400)\(group) AT \(now)") else {
                Issue.record("SERIES.STATS failed")
                return
            }
            #expect(rows.count == 7)
            for (k, row) in rows.enumerated() {
                let start = base + Int64(k) * 86_400
                // Time literals are ISO-8601 strings in the language.
                let literal = value.replacingOccurrences(of: "bucket_start", with: "\\\"\(TimeFormat.format(start))\\\"")
                    .replacingOccurrences(of: "bucket_end", with: "\\\"\(TimeFormat.format(start + 86_400))\\\"")
                guard case .array(let stats) = engine.run("AGG.STATS \"\(literal)\"\(group) AT \(min(start + 86_399, now))") else {
                    Issue.record("AGG.STATS failed")
                    return
                }
                #expect(row == .array([.bulk(TimeFormat.format(start))] + stats + [.bool(now >= start + 86_400)]), "\(value) bucket \(k)")
            }
        }
    }

    func counts(_ reply: Reply) -> [Reply] {
        guard case .array(let rows) = reply else { return [reply] }
        return rows.map { row in if case .array(let cells) = row { cells[1] } else { row } }
    }

    /// §4.4: recomputed applies today's attribute to the past, RECORDED what the feed said.
    @Test func recordedVersusRecomputed() throws {
        let start: Int64 = 1_782_777_600  // 2026-06-30
        let engine = try demoSchemaEngine(now: start)
        engine.run("USER.SET x plan free")
        engine.run("USER.SET y plan pro")
        engine.run("SEGMENT.DEFINE pros \"plan = \\\"pro\\\"\"")
        #expect(engine.run("SEGMENT.WATCH pros") == .array([.integer(1), .bulk("0-0")]))
        engine.run("CLOCK.SET 2026-07-03T10:00:00Z")
        engine.run("USER.SET x plan pro")
        engine.run("CLOCK.SET 2026-07-04T12:00:00Z")
        let command = "SERIES.COUNT pros BY day FROM 2026-07-01 TO 2026-07-05"
        #expect(counts(engine.run("\(command) AT 2026-07-04T12:00:00Z")) == [2, 2, 2, 2].map(Reply.integer))
        #expect(counts(engine.run("\(command) RECORDED AT 2026-07-04T12:00:00Z")) == [1, 1, 2, 2].map(Reply.integer))
        // Before the watch started: nil. After the engine time: refused.
        #expect(counts(engine.run("SERIES.COUNT pros BY day FROM 2026-06-28 TO 2026-07-01 RECORDED")) == [.null, .null, .integer(1)])
        guard case .error = engine.run("\(command) RECORDED AT 2026-07-05T00:00:00Z"), case .error = engine.run("SERIES.COUNT verified BY day LAST 2 RECORDED")
        else {
            Issue.record("RECORDED after the engine time, or of an unwatched segment, is refused")
            return
        }
    }

    /// §4.4 on the change-feed example of §1.7: the deleted u2 counts nowhere.
    @Test func recordedOverTheChangeFeedExample() throws {
        let engine = try demoSchemaEngine()
        engine.run("SEGMENT.DEFINE active_riders \"count(ride, last 30d) >= 3\"")
        engine.run("SEGMENT.WATCH active_riders")
        for line in [
            "EVENT.ADD u1 ride 2026-06-05T08:00:00Z", "EVENT.ADD u1 ride 2026-06-20T08:00:00Z", "EVENT.ADD u1 ride 2026-06-30T08:00:00Z",
            "EVENT.ADD u2 ride 2026-06-25T10:00:00Z", "EVENT.ADD u2 ride 2026-06-28T10:00:00Z", "EVENT.ADD u2 ride 2026-07-02T09:00:00Z",
            "CLOCK.SET 2026-07-06T00:00:00Z", "EVENT.ADD u1 ride *", "USER.DEL u2",
            // The example asks AT 12:00, which RECORDED needs the engine time to have reached.
            "CLOCK.SET 2026-07-06T12:00:00Z",
        ] {
            engine.run(line)
        }
        #expect(
            counts(engine.run("SERIES.COUNT active_riders BY day FROM 2026-07-01 TO 2026-07-07 RECORDED AT 2026-07-06T12:00:00Z"))
                == [1, 1, 1, 1, 0, 1].map(Reply.integer))
        // Retention: with the oldest entries trimmed, the history before them is refused.
        engine.run("SEGMENT.WATCH active_riders MAXLEN 1")
        guard case .error(let e) = engine.run("SERIES.COUNT active_riders BY day FROM 2026-07-01 TO 2026-07-07 RECORDED AT 2026-07-06T12:00:00Z") else {
            Issue.record("a trimmed history is refused")
            return
        }
        #expect(e.message.hasPrefix("history of 'active_riders' is trimmed up to 2026-07-06T00:00:00Z; RECORDED needs it from 2026-07-01T23:59:59Z"))
    }
}
