import CohortCore
import CohortTestSupport
import Foundation
import Testing

/// Funnels (FEATURES §3): the worked example of §3.4 reply for reply, the same-event
/// examples, errors, and a randomized differential test against brute-force chain
/// enumeration (Appendix B.2's oracle).
struct FunnelTests {
    /// The users of §3.4, created in the order u1...u9 (the first write names each).
    func workedExample() throws -> Engine {
        let engine = try demoSchemaEngine()
        let events: [(String, String)] = [
            ("u1", "registration_started 2026-06-01T09:00:00Z"), ("u1", "registration_completed 2026-06-01T09:05:00Z"),
            ("u1", "ride 2026-06-02T18:00:00Z distance_km 12"),
            ("u2", "registration_started 2026-06-02T00:00:00Z"), ("u2", "registration_completed 2026-06-03T10:00:00Z"),
            ("u2", "ride 2026-06-04T10:00:00Z distance_km 5"), ("u2", "ride 2026-06-09T00:00:00Z distance_km 12"),
            ("u3", "registration_started 2026-06-01T10:00:00Z"), ("u3", "registration_started 2026-06-05T10:00:00Z"),
            ("u3", "registration_completed 2026-06-06T10:00:00Z"), ("u3", "ride 2026-06-11T12:00:00Z distance_km 15"),
            ("u4", "registration_completed 2026-06-03T12:00:00Z"), ("u4", "registration_started 2026-06-03T12:00:00Z"),
            ("u5", "registration_started 2026-05-31T23:59:59Z"), ("u5", "registration_completed 2026-06-01T00:10:00Z"),
            ("u6", "registration_started 2026-06-04T08:00:00Z"), ("u6", "ride 2026-06-05T08:00:00Z distance_km 20"),
            ("u7", "registration_started 2026-06-07T23:59:59Z"), ("u7", "registration_completed 2026-06-10T08:00:00Z"),
            ("u8", "registration_started 2026-06-08T00:00:00Z"), ("u8", "registration_completed 2026-06-08T01:00:00Z"),
            ("u9", "registration_started 2026-06-06T08:00:00Z"), ("u9", "registration_completed 2026-06-06T09:00:00Z"),
            ("u9", "ride 2026-06-12T00:00:01Z distance_km 11"),
        ]
        for (user, event) in events { #expect(engine.run("EVENT.ADD \(user) \(event)") == .ok) }
        return engine
    }

    static let funnel =
        #"FUNNEL 3 registration_started registration_completed "ride where distance_km > 10" WITHIN 7d FROM 2026-06-01 TO 2026-06-08"#
    static let at = "AT 2026-06-12T00:00:00Z"

    func rows(_ rows: [(Int64, Double, Double)]) -> Reply {
        .array(rows.map { .array([.integer($0.0), .double($0.1), .double($0.2)]) })
    }

    @Test func workedExampleOfSection3_4() throws {
        let engine = try workedExample()
        #expect(engine.run("\(Self.funnel) \(Self.at)") == rows([(7, 1, 1), (6, 0.8571428571428571, 0.8571428571428571), (3, 0.42857142857142855, 0.5)]))
        #expect(
            engine.run("\(Self.funnel) STRICT_INCREASE \(Self.at)")
                == rows([(7, 1, 1), (5, 0.7142857142857143, 0.7142857142857143), (3, 0.42857142857142855, 0.6)]))
        let later = engine.run("\(Self.funnel) AT 2026-06-13T00:00:00Z")
        #expect(later == rows([(7, 1, 1), (6, 6.0 / 7, 6.0 / 7), (4, 4.0 / 7, 4.0 / 6)]))
        for user in ["u1", "u3", "u4", "u7"] { engine.run("USER.SET \(user) verified true") }
        #expect(engine.run("\(Self.funnel) IN verified \(Self.at)") == rows([(4, 1, 1), (4, 1, 1), (2, 0.5, 0.5)]))
        for (user, plan) in [("u1", "pro"), ("u2", "free"), ("u3", "pro"), ("u4", "free"), ("u5", "pro"), ("u6", "free"), ("u8", "free"), ("u9", "pro")] {
            engine.run("USER.SET \(user) plan \(plan)")
        }
        let third = 0.3333333333333333, twoThirds = 0.6666666666666666
        #expect(
            engine.run("\(Self.funnel) BY plan \(Self.at)")
                == .array([
                    .array([.bulk("free"), rows([(3, 1, 1), (2, twoThirds, twoThirds), (1, third, 0.5)])]),
                    .array([.bulk("pro"), rows([(3, 1, 1), (3, 1, 1), (2, twoThirds, twoThirds)])]),
                    .array([.null, rows([(1, 1, 1), (1, 1, 1), (0, 0, 0)])]),
                ]))
        let members = Self.funnel.replacingOccurrences(of: "FUNNEL ", with: "FUNNEL.MEMBERS ")
        #expect(engine.run("\(members) LEVEL 2 \(Self.at)") == .array([.bulk("0"), .array(["u4", "u7", "u9"].map(Reply.bulk))]))
        // Pages: the cursor resumes where the page ended.
        guard case .array(let page) = engine.run("\(members) LEVEL 3 COUNT 2 \(Self.at)"), case .bulk(let cursor) = page[0] else {
            Issue.record("no page")
            return
        }
        #expect(page[1] == .array(["u1", "u2"].map(Reply.bulk)))
        #expect(engine.run("\(members) LEVEL 3 COUNT 2 CURSOR \(cursor) \(Self.at)") == .array([.bulk("0"), .array([.bulk("u3")])]))
    }

    @Test func theSameEventTwice() throws {
        let funnel = "FUNNEL 2 app_open app_open WITHIN 1d FROM 2026-06-01 TO 2026-06-02"
        let engine = try demoSchemaEngine()
        engine.run("EVENT.ADD one app_open 2026-06-01T10:00:00Z")
        engine.run("EVENT.ADD same app_open 2026-06-01T10:00:00Z")
        engine.run("EVENT.ADD same app_open 2026-06-01T10:00:00Z")
        engine.run("EVENT.ADD late app_open 2026-06-01T10:00:00Z")
        engine.run("EVENT.ADD late app_open 2026-06-02T10:00:01Z")
        // one: 1, same: 2 (strict: 1), late: 1.
        #expect(engine.run(funnel) == rows([(3, 1, 1), (1, 1.0 / 3, 1.0 / 3)]))
        #expect(engine.run("\(funnel) STRICT_INCREASE") == .array([.array([.integer(3), .double(1), .double(1)]), .array([.integer(0), .double(0), .double(0)])]))
        // Nobody in the group: rates are nil.
        #expect(
            engine.run(funnel + #" IN "plan = \"x\"""#)
                == .array([.array([.integer(0), .null, .null]), .array([.integer(0), .null, .null])]))
    }

    @Test func badRequestsAreRefusedWithWhatWasWrong() throws {
        let engine = try demoSchemaEngine()
        let tail = "WITHIN 7d FROM 2026-06-01 TO 2026-06-08"
        #expect(engine.run("FUNNEL 1 ride \(tail)") == .error(.err("numsteps must be an integer from 2 to 32, got '1'")))
        guard case .error(let e) = engine.run("FUNNEL 2 ride nope \(tail)") else {
            Issue.record("an unknown event is refused")
            return
        }
        #expect(e.message.hasPrefix("step 2 'nope': "))
        #expect(engine.run("FUNNEL 2 ride ride WITHIN 7d FROM 2026-06-08 TO 2026-06-01") == .error(.err("FROM must be before TO")))
        #expect(engine.run("FUNNEL.MEMBERS 2 ride ride WITHIN 7d FROM 2026-06-08 TO 2026-06-08 LEVEL 1") == .error(.err("FROM must be before TO")))
        #expect(engine.run("FUNNEL 2 ride ride FROM 2026-06-01 TO 2026-06-08") == .error(.syntax("WITHIN duration is required (FUNNEL numsteps step ... WITHIN duration FROM time TO time [STRICT_INCREASE] [IN target] [BY attr] [AT time])")))
        guard case .error(let tags) = engine.run("FUNNEL 2 ride ride \(tail) BY tags") else {
            Issue.record("BY tags is refused")
            return
        }
        #expect(tags.message == "BY needs an int, float, bool, string or time attribute; 'tags' is tags")
        guard case .error = engine.run("FUNNEL.MEMBERS 2 ride ride \(tail)") else {
            Issue.record("FUNNEL.MEMBERS without LEVEL is refused")
            return
        }
    }

    // MARK: Differential

    /// The longest chain by enumeration: every assignment of distinct events to steps 1...k
    /// in order (FEATURES §3.3 read literally).
    static func bruteForceLevel(_ events: [(step: Set<Int>, t: Int64)], n: Int, w: Int64, a: Int64, b: Int64, strict: Bool) -> Int {
        var best = 0
        func extend(_ k: Int, _ used: Set<Int>, _ start: Int64, _ last: Int64) {
            best = max(best, k)
            guard k < n else { return }
            for (i, e) in events.enumerated() where !used.contains(i) && e.step.contains(k + 1) {
                guard strict ? e.t > last : e.t >= last, e.t - start <= w else { continue }
                extend(k + 1, used.union([i]), start, e.t)
            }
        }
        for (i, e) in events.enumerated() where e.step.contains(1) && a <= e.t && e.t < b { extend(1, [i], e.t, e.t) }
        return best
    }

    /// Where a differential test's events are when it asks.
    enum Layout: CaseIterable {
        /// All in the delta.
        case delta
        /// All merged into the base (read through the activity index that skips users
        /// without a step-1 event in the entry range, and the recent copy).
        case merged
        /// The first half merged, the rest in the delta on top, and one user deleted
        /// after the merge (its base events are garbage the activity index still lists).
        case mixed
    }

    /// Each seed in each layout; one window reaches 40 days back, past the recent copy, so
    /// the base itself is read.
    @Test(arguments: [1, 2, 3, 4] as [UInt64], Layout.allCases)
    func levelsEqualBruteForceChainEnumeration(seed: UInt64, layout: Layout) throws {
        var rng = SplitMix(seed: seed)
        let engine = try demoSchemaEngine()
        if layout != .delta { engine.mergeThreshold = 1 }
        let base: Int64 = 1_780_272_000  // 2026-06-01
        let kinds = ["app_open", "registration_started", "ride"]
        // Steps over three types, one with a filter, one type twice.
        let steps = ["registration_started", #""ride where distance_km > 10""#, "app_open", "ride"]
        func matches(_ kind: String, _ km: Int) -> Set<Int> {
            var s: Set<Int> = []
            if kind == "registration_started" { s.insert(1) }
            if kind == "ride", km > 10 { s.insert(2) }
            if kind == "app_open" { s.insert(3) }
            if kind == "ride" { s.insert(4) }
            return s
        }
        var byUser: [String: [(step: Set<Int>, t: Int64)]] = [:]
        let users = (0..<60).map { "r\($0)" }
        let now = base + 10 * 86_400
        // Created in order, so that creation order is the order of their numbers.
        for user in users { engine.run("USER.SET \(user) plan free") }
        for half in 0..<2 {
            for user in users {
                for _ in 0..<Int(rng.next() % 5) {
                    let kind = kinds[Int(rng.next() % 3)]
                    // Few distinct seconds, so that ties and several events a second are
                    // common; a few events 40 days back.
                    let old = rng.next() % 6 == 0 ? -40 * 86_400 : Int64(0)
                    let t = base + old + Int64(rng.next() % 24) * 43_200 + Int64(rng.next() % 2)
                    let km = Int(rng.next() % 20)
                    engine.run("EVENT.ADD \(user) \(kind) \(t)" + (kind == "ride" ? " distance_km \(km)" : ""))
                    if t <= now { byUser[user, default: []].append((matches(kind, km), t)) }
                }
            }
            if half == 0, layout == .mixed {
                engine.waitForMerges()
                engine.mergeThreshold = .max
                engine.run("USER.DEL r7")
                byUser["r7"] = nil
            }
        }
        engine.waitForMerges()
        let live = users.filter { $0 != "r7" || layout != .mixed }
        let windows = [
            (Int64(86_400), base, base + 3 * 86_400), (Int64(2 * 86_400), base + 86_400, base + 6 * 86_400),
            (Int64(45 * 86_400), base - 41 * 86_400, base + 3 * 86_400),
        ]
        for strict in [false, true] {
            for (w, a, b) in windows {
                let words = "4 " + steps.joined(separator: " ") + " WITHIN \(w) FROM \(a) TO \(b)" + (strict ? " STRICT_INCREASE" : "") + " AT \(now)"
                var exact = [Int](repeating: 0, count: 5)
                var atLevel: [Int: [String]] = [:]
                for user in live {
                    let level = Self.bruteForceLevel(byUser[user] ?? [], n: 4, w: w, a: a, b: b, strict: strict)
                    exact[level] += 1
                    atLevel[level, default: []].append(user)
                }
                var reached = [Int](repeating: 0, count: 6)
                for k in stride(from: 4, through: 1, by: -1) { reached[k] = reached[k + 1] + exact[k] }
                guard case .array(let got) = engine.run("FUNNEL \(words)") else {
                    Issue.record("FUNNEL failed")
                    return
                }
                let users: [Reply] = got.map { row in if case .array(let r) = row { r[0] } else { Reply.null } }
                #expect(users == (1...4).map { Reply.integer(Int64(reached[$0])) }, "\(words)")
                for level in 1...4 {
                    let expected = (atLevel[level] ?? []).sorted { Int($0.dropFirst())! < Int($1.dropFirst())! }
                    #expect(
                        engine.run("FUNNEL.MEMBERS \(words.replacingOccurrences(of: " AT ", with: " LEVEL \(level) AT "))")
                            == .array([.bulk("0"), .array(expected.map(Reply.bulk))]), "\(words) LEVEL \(level)")
                }
            }
        }
    }
}
