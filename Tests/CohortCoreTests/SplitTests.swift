import CohortTestSupport
import Foundation
import Testing

@testable import CohortCore

/// Splits (FEATURES §2): the hash's test vectors, the arms and assignment/conversion
/// examples of §2.4 reply for reply, the statistics at the worked and edge cases, and
/// persistence through a restart.
struct SplitTests {
    static let start: Int64 = 1_782_864_000  // 2026-07-01T00:00:00Z

    @Test func hashTestVectors() {
        #expect(Split.fnv1a64([UInt8]()) == 0xcbf2_9ce4_8422_2325)
        #expect(Split.fnv1a64(Array("a".utf8)) == 0xaf63_dc4c_8601_ec8c)
        let vectors: [(String, UInt64, UInt64, Int)] = [
            ("u0000001", 0x200b_2caa_2f9b_62d2, 0x8728_c4b7_1c4a_b696, 5318), ("u0000002", 0x200b_2baa_2f9b_611f, 0xeeac_a202_caf9_b5fd, 8589),
            ("u0000003", 0x200b_2aaa_2f9b_5f6c, 0xb08d_23a4_49ea_7464, 9924), ("u0000004", 0x200b_29aa_2f9b_5db9, 0x284e_6676_68c9_4501, 3553),
            ("u0000005", 0x200b_28aa_2f9b_5c06, 0xea13_37b7_4555_7579, 873), ("u0000006", 0x200b_27aa_2f9b_5a53, 0x3a60_c434_dc50_129f, 1919),
            ("u0000007", 0x200b_26aa_2f9b_58a0, 0x4010_fe38_6e53_934e, 3038), ("u0000008", 0x200b_35aa_2f9b_721d, 0xcab8_ae8d_4482_c014, 5076),
        ]
        for (user, fnv, mixed, bucket) in vectors {
            let h = Split.fnv1a64(Array("welcome_test".utf8) + [0] + Array(user.utf8))
            #expect(h == fnv, "\(user)")
            #expect(Split.fmix64(h) == mixed, "\(user)")
            #expect(Split.bucket(seed: "welcome_test", user: user) == bucket, "\(user)")
        }
        #expect(Split.bucket(seed: "s1", user: "alice") == 7608)
        #expect(Split.bucket(seed: "s1", user: "bob") == 2175)
    }

    func u(_ k: Int) -> String { "u000000\(k)" }

    @Test func armsOfTheWorkedExample() throws {
        let engine = try demoSchemaEngine()
        engine.run("SPLIT.DEFINE half new_users ARMS control 50 treatment 50 SEED welcome_test")
        engine.run("SPLIT.DEFINE partial new_users ARMS control 20 treatment 30 SEED welcome_test")
        let half = ["treatment", "treatment", "treatment", "control", "control", "control", "control", "treatment"]
        let partial: [String?] = [nil, nil, nil, "treatment", "control", "control", "treatment", nil]
        for k in 1...8 {
            guard case .array(let a) = engine.run("SPLIT.ARM half \(u(k))"), case .array(let b) = engine.run("SPLIT.ARM partial \(u(k))") else {
                Issue.record("SPLIT.ARM failed")
                return
            }
            #expect(a[0] == .bulk(half[k - 1]), "\(k)")
            #expect(b[0] == (partial[k - 1].map(Reply.bulk) ?? .null), "\(k)")
            #expect(a[2] == .null)
        }
        #expect(
            engine.run("SPLIT.LIST")
                == .array([
                    .array([.bulk("half"), .bulk("new_users"), .bulk("welcome_test"), .bulk("2026-07-01T00:00:00Z"), .array([.bulk("control"), .double(50), .bulk("treatment"), .double(50)])]),
                    .array([.bulk("partial"), .bulk("new_users"), .bulk("welcome_test"), .bulk("2026-07-01T00:00:00Z"), .array([.bulk("control"), .double(20), .bulk("treatment"), .double(30)])]),
                ]))
        #expect(engine.run("SPLIT.DEFINE half new_users ARMS a 10") == .error(.err("split 'half' exists; splits are immutable (SPLIT.DROP it first)")))
        #expect(engine.run("SPLIT.DEFINE x new_users ARMS a 60 b 50") == .error(.err("the arms add up to 110.0%, more than 100")))
        guard case .error = engine.run("SPLIT.DEFINE y new_users ARMS a 1.234"), case .error = engine.run("SPLIT.DEFINE y new_users ARMS a 0") else {
            Issue.record("bad percentages are refused")
            return
        }
        // Regression: with AT taken off, a missing arm was read past the end (a trap).
        #expect(engine.run("SPLIT.MEMBERS half AT 2026-07-01T00:00:00Z") == .error(.wrongArity("SPLIT.MEMBERS")))
        #expect(engine.run("SEGMENT.UNWATCH new_users") == .error(.err("segment 'new_users' is used by split 'half'")))
        #expect(engine.run("SPLIT.DROP partial") == .integer(1))
        #expect(engine.run("SPLIT.DROP partial") == .integer(0))
    }

    /// §2.4 "Assignment and conversion": the report reply for reply, MATURE, AT.
    /// What the engine published (its feed listener), in order.
    final class Heard: @unchecked Sendable {
        let lock = NSLock()
        var json: [String] = []
    }

    func assignmentExample(_ heard: Heard = Heard()) throws -> Engine {
        let engine = try demoSchemaEngine()
        engine.feedListener = { notices in heard.lock.withLock { heard.json += notices.map(\.json) } }
        for (k, signup) in [(1, "06-25"), (2, "06-20"), (3, "06-28"), (4, "06-30"), (5, "06-18"), (8, "06-29")] {
            engine.run("USER.SET \(u(k)) signup_at 2026-\(signup)T00:00:00Z")
        }
        engine.run("USER.SET \(u(6)) plan free")
        engine.run("USER.SET \(u(7)) signup_at 2026-06-01T00:00:00Z")
        #expect(engine.run("SPLIT.DEFINE welcome_test new_users ARMS control 50 treatment 50") == .ok)
        engine.run("CLOCK.SET 2026-07-03T10:00:00Z")
        engine.run("USER.SET \(u(6)) signup_at 2026-07-03T10:00:00Z")
        engine.run("CLOCK.SET 2026-07-05T00:00:00Z")
        engine.run("USER.SET \(u(7)) signup_at 2026-07-05T00:00:00Z")
        for (k, t) in [
            (4, "06-30T12:00:00Z"), (4, "07-09T00:00:00Z"), (5, "07-01T00:00:00Z"), (6, "07-10T10:00:00Z"), (1, "07-02T15:00:00Z"), (2, "07-08T00:00:00Z"),
            (3, "07-08T00:00:01Z"), (8, "07-03T08:30:00Z"),
        ] {
            engine.run("EVENT.ADD \(u(k)) purchase 2026-\(t) amount 10")
        }
        engine.run("CLOCK.SET 2026-07-15T00:00:00Z")
        return engine
    }

    @Test func assignmentAndConversionOfTheWorkedExample() throws {
        let heard = Heard()
        let engine = try assignmentExample(heard)
        for (k, arm, at) in [(1, "treatment", "07-01T00:00:00Z"), (5, "control", "07-01T00:00:00Z"), (6, "control", "07-03T10:00:00Z"), (7, "control", "07-05T00:00:00Z")] {
            guard case .array(let cells) = engine.run("SPLIT.ARM welcome_test \(u(k))") else { throw Failure() }
            #expect(cells[0] == .bulk(arm))
            #expect(cells[2] == .bulk("2026-\(at)"), "\(k)")
        }
        // u6's entered entry names its arm (FEATURES §1.4), in the stream and in pub/sub.
        let fields: [Reply] = [
            "user", u(6), "change", "entered", "at", "2026-07-03T10:00:00Z", "cause", "write", "arms", #"{"welcome_test":"control"}"#,
        ].map(Reply.bulk)
        #expect(engine.run("XRANGE segment:new_users 1783072800000 1783072800000") == .array([.array([.bulk("1783072800000-0"), .array(fields)])]))
        let published = heard.lock.withLock { heard.json }
        #expect(
            published.contains(
                #"{"id":"1783072800000-0","segment":"new_users","user":"u0000006","change":"entered","at":"2026-07-03T10:00:00Z","cause":"write","arms":{"welcome_test":"control"}}"#
            ), "\(published)")
        #expect(engine.run("SPLIT.COUNT welcome_test") == .array([.array([.bulk("control"), .integer(4)]), .array([.bulk("treatment"), .integer(4)])]))
        #expect(
            engine.run("SPLIT.MEMBERS welcome_test control")
                == .array([.bulk("0"), .array([u(4), u(5), u(6), u(7)].map(Reply.bulk))]))
        let nils = [Reply](repeating: .null, count: 6)
        #expect(
            engine.run("SPLIT.REPORT welcome_test CONVERT EVENT purchase WITHIN 7d")
                == .array([
                    .array([.bulk("control"), .integer(4), .integer(1), .double(0.25)] + nils),
                    .array([
                        .bulk("treatment"), .integer(4), .integer(3), .double(0.75), .double(2), .double(0.5), .double(-0.10011395954441371),
                        .double(1.1001139595444136), .double(1.414213562373095), .double(0.1572992070502852),
                    ]),
                ]))
        guard case .array(let mature) = engine.run("SPLIT.REPORT welcome_test CONVERT EVENT purchase WITHIN 7d MATURE AT 2026-07-11T00:00:00Z"),
            case .array(let control) = mature[0], case .array(let treatment) = mature[1],
            case .array(let immature) = engine.run("SPLIT.REPORT welcome_test CONVERT EVENT purchase WITHIN 7d AT 2026-07-11T00:00:00Z"),
            case .array(let control2) = immature[0]
        else { throw Failure() }
        #expect(Array(control[1...3]) == [.integer(3), .integer(1), .double(0.3333333333333333)])
        #expect(Array(treatment[1...3]) == [.integer(4), .integer(3), .double(0.75)])
        #expect(Array(control2[1...2]) == [.integer(4), .integer(1)])
        // The expression form, with assigned_at: the same conversions.
        guard case .array(let byExpr) = engine.run(#"SPLIT.REPORT welcome_test CONVERT EXPR "count(purchase, from assigned_at + 1s to assigned_at + 7d + 1s) >= 1""#) else {
            throw Failure()
        }
        #expect(byExpr == (engine.run("SPLIT.REPORT welcome_test CONVERT EVENT purchase WITHIN 7d")).arrayValue)
        #expect(engine.run("SPLIT.COUNT welcome_test AT 2026-07-16T00:00:00Z") == .error(.err("AT is after the engine time; assignments after it are not known yet")))
    }

    /// CONVERT EVENT (which reads only users with an event of the type after the split
    /// started, by the activity index) equals CONVERT EXPR (every user, by the
    /// evaluator) on random purchases before and after the start, in every layout.
    @Test(arguments: FunnelTests.Layout.allCases)
    func conversionByEventEqualsByExpression(layout: FunnelTests.Layout) throws {
        var rng = SplitMix(seed: 21)
        let start: Int64 = 1_782_864_000  // 2026-07-01
        let engine = try demoSchemaEngine(now: start)
        if layout != .delta { engine.mergeThreshold = 1 }
        for k in 0..<80 { engine.run("USER.SET s\(k) plan \(rng.next() % 4 == 0 ? "free" : "pro")") }
        engine.run(#"SEGMENT.DEFINE pros "plan = \"pro\"""#)
        #expect(engine.run("SPLIT.DEFINE pro_test pros ARMS control 50 treatment 50") == .ok)
        for half in 0..<2 {
            for k in 0..<80 where rng.next() % 2 == 0 {
                // Purchases from 20 days before the start to 20 after.
                let t = start - 20 * 86_400 + Int64(rng.next() % 40) * 86_400 + Int64(rng.next() % 3)
                engine.run("EVENT.ADD s\(k) purchase \(t) amount \(rng.next() % 100)")
            }
            if half == 0, layout == .mixed {
                engine.waitForMerges()
                engine.mergeThreshold = .max
                engine.run("USER.DEL s3")
            }
        }
        engine.waitForMerges()
        engine.run("CLOCK.SET \(start + 25 * 86_400)")
        for (event, expr) in [
            ("purchase WITHIN 7d", "count(purchase, from assigned_at + 1s to assigned_at + 7d + 1s) >= 1"),
            ("purchase", "count(purchase, from assigned_at + 1s to now + 1s) >= 1"),
            (#""purchase where amount > 50" WITHIN 14d"#, "count(purchase where amount > 50, from assigned_at + 1s to assigned_at + 14d + 1s) >= 1"),
        ] {
            guard case .array(let byEvent) = engine.run("SPLIT.REPORT pro_test CONVERT EVENT \(event)") else { throw Failure() }
            #expect(byEvent == engine.run("SPLIT.REPORT pro_test CONVERT EXPR \"\(expr)\"").arrayValue, "\(event)")
            guard case .array(let control) = byEvent[0], case .integer(let converted) = control[2] else { throw Failure() }
            #expect(converted > 0, "\(event): some conversions")
        }
    }

    /// A split on a segment of count thresholds alone, whose writes are settled in place
    /// without the evaluator (`Database.feedAfterWrite`): an entering user is assigned
    /// at its entry, a leaving one keeps its arm, the entry names the arm.
    @Test func assignmentThroughACountOnlySegment() throws {
        let start: Int64 = 1_782_864_000  // 2026-07-01
        let engine = try demoSchemaEngine(now: start)
        engine.run(#"SEGMENT.DEFINE fresh_riders "count(ride, last 1h) >= 2""#)
        #expect(engine.run("SEGMENT.WATCH fresh_riders") == .array([.integer(0), .bulk("0-0")]))
        #expect(engine.run("SPLIT.DEFINE ride_test fresh_riders ARMS control 50 treatment 50") == .ok)
        for k in 0..<6 { engine.run("EVENT.ADD r\(k) ride \(start - 100) cost 1") }
        #expect(engine.run("SPLIT.COUNT ride_test") == .array([.array([.bulk("control"), .integer(0)]), .array([.bulk("treatment"), .integer(0)])]))
        engine.run("CLOCK.SET \(start + 10)")
        for k in 0..<6 { engine.run("EVENT.ADD r\(k) ride \(start + 10) cost 1") }
        var arms: [String: Int] = [:]
        for k in 0..<6 {
            guard case .array(let cells) = engine.run("SPLIT.ARM ride_test r\(k)"), case .bulk(let arm) = cells[0] else { throw Failure() }
            #expect(cells[2] == .bulk("2026-07-01T00:00:10Z"), "r\(k)")
            arms[arm, default: 0] += 1
            guard case .array(let entries) = engine.run("XRANGE segment:fresh_riders 1782864010000 1782864010000"),
                case .array(let entry) = entries[k], case .array(let fields) = entry[1]
            else { throw Failure() }
            #expect(Array(fields[0...1]) == [.bulk("user"), .bulk("r\(k)")])
            #expect(fields.last == .bulk(#"{"ride_test":"\#(arm)"}"#))
        }
        #expect(arms.values.reduce(0, +) == 6)
        // An hour and 101 s later the first rides have left the window: everyone exits
        // (time-driven) and keeps its arm.
        engine.run("CLOCK.SET \(start + 3_600 - 100 + 2)")
        #expect(engine.run("SEGMENT.COUNT fresh_riders") == .integer(0))
        #expect(engine.run("XLEN segment:fresh_riders") == .integer(12))
        guard case .array(let counts) = engine.run("SPLIT.COUNT ride_test") else { throw Failure() }
        #expect(counts == [.array([.bulk("control"), .integer(Int64(arms["control"] ?? 0))]), .array([.bulk("treatment"), .integer(Int64(arms["treatment"] ?? 0))])])
    }

    @Test func statisticsOfTheRealisticHoldout() {
        let row = SplitCommands.reportFields((4000, 560), baseline: (4000, 480), isBaseline: false, z: 1.959963984540054)
        #expect(Array(row[0...2]) == [.integer(4000), .integer(560), .double(0.14)])
        #expect(row[3] == .double(0.16666666666666682))
        #expect(row[4] == .double(0.020000000000000018))
        #expect(row[5] == .double(0.005267640264736351))
        #expect(row[6] == .double(0.03473235973526369))
        #expect(row[7] == .double(2.65958387416739))
        guard case .double(let p) = row[8] else { return }
        #expect(abs(p - 0.007823724726272888) < 1e-12)
        let strict = SplitCommands.reportFields((4000, 560), baseline: (4000, 480), isBaseline: false, z: 2.5758293035489004)
        #expect(Array(strict[5...6]) == [.double(0.0006383973298257697), .double(0.039361602670174266)])
        let other = SplitCommands.reportFields((2000, 250), baseline: (2000, 200), isBaseline: false, z: 1.959963984540054)
        #expect(other[7] == .double(2.501955416802671))
        guard case .double(let p2) = other[8] else { return }
        #expect(abs(p2 - 0.012350947711191435) < 1e-12)
        // Edges: nobody assigned, nobody or everybody converted.
        #expect(SplitCommands.reportFields((0, 0), baseline: (10, 2), isBaseline: false, z: 1.96) == [.integer(0), .integer(0)] + [Reply](repeating: .null, count: 7))
        let none = SplitCommands.reportFields((10, 0), baseline: (10, 0), isBaseline: false, z: 1.96)
        #expect(none == [.integer(10), .integer(0), .double(0), .null, .double(0), .double(0), .double(0), .null, .null])
        let all = SplitCommands.reportFields((5, 5), baseline: (7, 7), isBaseline: false, z: 1.96)
        #expect(all == [.integer(5), .integer(5), .double(1), .double(0), .double(0), .double(0), .double(0), .null, .null])
    }

    @Test func splitsSurviveARestart() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var before: [Reply] = []
        let questions = ["SPLIT.LIST", "SPLIT.COUNT welcome_test", "SPLIT.ARM welcome_test u0000006", "SPLIT.REPORT welcome_test CONVERT EVENT purchase WITHIN 7d"]
        // Defined; then reopened from the journal (and snapshotted); then from the snapshot.
        for round in 0..<3 {
            do {
                let (d, engine, _) = try DataDirectory.open(directory.path, create: true, appendfsync: .always, fixedNow: Self.start, clock: { Self.start })
                if before.isEmpty {
                    try DefinitionsScript.run(DemoSchema.text, file: "schema", on: engine)
                    for k in 1...8 { engine.run("USER.SET \(u(k)) signup_at 2026-06-2\(k)T00:00:00Z") }
                    engine.run("SPLIT.DEFINE welcome_test new_users ARMS control 50 treatment 50")
                    engine.run("CLOCK.SET 2026-07-03T10:00:00Z")
                    engine.run("USER.SET u0000009 signup_at 2026-07-03T10:00:00Z")
                    engine.run("EVENT.ADD u0000002 purchase 2026-07-02T10:00:00Z amount 5")
                    engine.run("USER.DEL u0000004")
                    before = questions.map { engine.run($0) }
                } else {
                    #expect(questions.map { engine.run($0) } == before, "round \(round)")
                }
                if round == 1 { #expect(engine.run("SNAPSHOT") == .ok) }
                try d.close()
            }
        }
        #expect(before[1] != .array([]))
    }

    struct Failure: Error {}
}

extension Reply {
    var arrayValue: [Reply]? { if case .array(let a) = self { a } else { nil } }
}
