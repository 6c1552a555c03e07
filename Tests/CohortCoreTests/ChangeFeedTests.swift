import CohortCore
import CohortTestSupport
import Foundation
import Testing

/// The change feed of FEATURES §1 through `Engine.execute`: the worked example of §1.7
/// byte for byte, the next-change table, deletion, definitions, retention and an oracle
/// that evaluates membership every second.
struct ChangeFeedTests {
    static let start: Int64 = 1_782_864_000  // 2026-07-01T00:00:00Z

    func makeEngine(now: Int64 = ChangeFeedTests.start) throws -> Engine {
        let engine = Engine(fixedNow: now, clock: { now })
        try DefinitionsScript.run(DemoSchema.text, file: "schema", on: engine)
        return engine
    }

    @discardableResult
    func run(_ engine: Engine, _ line: String) throws -> Reply { engine.execute(try InlineCommand.split(line)) }

    /// An entry as XRANGE renders it.
    func entry(_ id: String, _ user: String, _ change: String, _ at: String, _ cause: String) -> Reply {
        .array([
            .bulk(id),
            .array([.bulk("user"), .bulk(user), .bulk("change"), .bulk(change), .bulk("at"), .bulk(at), .bulk("cause"), .bulk(cause)]),
        ])
    }

    @Test func workedExampleOfSection1_7() throws {
        let engine = try makeEngine()
        try run(engine, "SEGMENT.DEFINE active_riders \"count(ride, last 30d) >= 3\"")
        #expect(try run(engine, "SEGMENT.WATCH active_riders") == .array([.integer(0), .bulk("0-0")]))
        for line in [
            "EVENT.ADD u1 ride 2026-06-05T08:00:00Z", "EVENT.ADD u1 ride 2026-06-20T08:00:00Z", "EVENT.ADD u1 ride 2026-06-30T08:00:00Z",
            "EVENT.ADD u2 ride 2026-06-25T10:00:00Z", "EVENT.ADD u2 ride 2026-06-28T10:00:00Z", "EVENT.ADD u2 ride 2026-07-02T09:00:00Z",
        ] {
            #expect(try run(engine, line) == .ok)
        }
        #expect(try run(engine, "XLEN segment:active_riders") == .integer(1))
        #expect(try run(engine, "CLOCK.SET 2026-07-06T00:00:00Z") == .integer(2))
        #expect(try run(engine, "CLOCK.GET") == .bulk("2026-07-06T00:00:00Z"))
        #expect(try run(engine, "EVENT.ADD u1 ride *") == .ok)
        #expect(try run(engine, "USER.DEL u2") == .integer(1))

        let expected: [Reply] = [
            entry("1782864000000-0", "u1", "entered", "2026-07-01T00:00:00Z", "write"),
            entry("1783238401000-0", "u1", "exited", "2026-07-05T08:00:01Z", "time"),
            entry("1783296000000-0", "u1", "entered", "2026-07-06T00:00:00Z", "write"),
            entry("1783296000000-1", "u2", "exited", "2026-07-06T00:00:00Z", "delete"),
        ]
        #expect(try run(engine, "XREAD COUNT 10 STREAMS segment:active_riders 0") == .pairs([.init(.bulk("segment:active_riders"), .array(expected))]))
        #expect(try run(engine, "XRANGE segment:active_riders - +") == .array(expected))
        #expect(try run(engine, "XREVRANGE segment:active_riders + - COUNT 2") == .array([expected[3], expected[2]]))
        #expect(try run(engine, "XRANGE segment:active_riders (1782864000000-0 1783296000000") == .array(Array(expected[1...])))
        guard case .map(let info) = try run(engine, "XINFO STREAM segment:active_riders") else {
            Issue.record("XINFO STREAM is not a map")
            return
        }
        func field(_ name: String) -> Reply? { info.first { $0.key == .bulk(name) }?.value }
        #expect(field("length") == .integer(4))
        #expect(field("entries-added") == .integer(5))
        #expect(field("max-deleted-entry-id") == .bulk("1782982800000-0"))
        #expect(field("last-generated-id") == .bulk("1783296000000-1"))
        #expect(field("recorded-first-entry-id") == .bulk("1782864000000-0"))
        #expect(field("trimmed-up-to") == .bulk("0-0"))
        #expect(field("first-entry") == expected[0])
        #expect(try run(engine, "SEGMENT.SYNC active_riders") == .array([.bulk("0"), .bulk("1783296000000-1"), .array([.bulk("u1")])]))
        #expect(
            try run(engine, "SEGMENT.WATCHES")
                == .array([.array([.bulk("active_riders"), .integer(1), .integer(4), .bulk("1783296000000-1"), .integer(1_000_000), .null])]))
        #expect(try run(engine, "XREAD STREAMS segment:active_riders 1783296000000-1") == .nullArray)
    }
}


extension ChangeFeedTests {
    /// The entries of `segment` as "at user change cause" lines.
    func lines(_ engine: Engine, _ segment: String) throws -> [String] {
        guard case .array(let entries) = try run(engine, "XRANGE segment:\(segment) - +") else { return ["not an array"] }
        return entries.map { entry in
            guard case .array(let parts) = entry, case .array(let f) = parts[1], case .bulk(let u) = f[1], case .bulk(let c) = f[3],
                case .bulk(let at) = f[5], case .bulk(let cause) = f[7]
            else { return "?" }
            return "\(at) \(u) \(c) \(cause)"
        }
    }

    /// The next-change table of FEATURES §1.7 (demo segments).
    @Test func nextChangesOfTheDemoSegments() throws {
        let engine = try makeEngine()
        try run(engine, "USER.SET n1 signup_at 2026-06-20T12:00:00Z")
        try run(engine, "USER.SET s1 subscription_ends_at 2026-07-10T00:00:00Z")
        for day in ["04-10", "04-20", "05-01", "05-10", "05-20", "05-30", "06-10", "06-20"] {
            try run(engine, "EVENT.ADD d1 ride 2026-\(day)T09:00:00Z")
        }
        for name in ["new_users", "expiring_subscription", "dormant_riders"] {
            #expect(try run(engine, "SEGMENT.WATCH \(name)") == .array([.integer(name == "new_users" ? 1 : 0), .bulk("0-0")]))
        }
        #expect(try run(engine, "CLOCK.SET 2026-07-11T00:00:00Z") == .integer(5))
        #expect(try lines(engine, "new_users") == ["2026-07-04T12:00:01Z n1 exited time"])
        #expect(try lines(engine, "expiring_subscription") == ["2026-07-03T00:00:01Z s1 entered time", "2026-07-10T00:00:01Z s1 exited time"])
        #expect(try lines(engine, "dormant_riders") == ["2026-07-04T09:00:01Z d1 entered time", "2026-07-09T09:00:01Z d1 exited time"])
        // CLOCK.SET T emits changes before T only; the one at exactly T follows on the next advance.
        try run(engine, "USER.SET n2 signup_at 2026-06-27T00:00:00Z")
        #expect(try run(engine, "CLOCK.SET 2026-07-11T00:00:01Z") == .integer(0))
        #expect(try run(engine, "CLOCK.SET 2026-07-11T00:00:02Z") == .integer(1))
        #expect(try run(engine, "CLOCK.SET 2026-07-01T00:00:00Z") == .error(.err("CLOCK.SET 2026-07-01T00:00:00Z is before the engine time 2026-07-11T00:00:02Z: the clock never moves back")))
    }

    /// A write that creates a user re-evaluates every watch for it, whatever the write
    /// touched: an EVENT.ADD or USER.SET of a new user enters segments it holds by its
    /// null attributes or empty event tables (the scope comes from the row count before
    /// the write: rows are dense and never reused).
    @Test func aNewUserIsEvaluatedInEveryWatch() throws {
        let engine = try makeEngine()
        try run(engine, "SEGMENT.DEFINE unverified \"not verified\"")
        try run(engine, "SEGMENT.DEFINE ride_free \"count(ride) = 0\"")
        #expect(try run(engine, "SEGMENT.WATCH unverified") == .array([.integer(0), .bulk("0-0")]))
        #expect(try run(engine, "SEGMENT.WATCH ride_free") == .array([.integer(0), .bulk("0-0")]))
        try run(engine, "EVENT.ADD r1 ride 2026-06-30T09:00:00Z")
        try run(engine, "USER.SET s1 verified false")
        try run(engine, "EVENT.ADD r1 ride 2026-06-30T10:00:00Z")
        #expect(try lines(engine, "unverified") == ["2026-07-01T00:00:00Z r1 entered write", "2026-07-01T00:00:00Z s1 entered write"])
        #expect(try lines(engine, "ride_free") == ["2026-07-01T00:00:00Z s1 entered write"])
    }

    @Test func definitionsAreReevaluatedOrRefused() throws {
        let engine = try makeEngine()
        try run(engine, "SEGMENT.DEFINE riders \"count(ride) >= 1\"")
        try run(engine, "EVENT.ADD b ride 2026-06-01T00:00:00Z")
        try run(engine, "EVENT.ADD a ride 2026-06-01T00:00:00Z")
        try run(engine, "EVENT.ADD a ride 2026-06-02T00:00:00Z")
        #expect(try run(engine, "SEGMENT.WATCH riders BACKFILL") == .array([.integer(2), .bulk("1782864000000-1")]))
        #expect(try lines(engine, "riders") == ["2026-07-01T00:00:00Z a entered watch", "2026-07-01T00:00:00Z b entered watch"])
        // A new meaning: everyone re-evaluated, entries bytewise.
        #expect(try run(engine, "SEGMENT.DEFINE riders \"count(ride) >= 2\"") == .ok)
        #expect(try lines(engine, "riders").last == "2026-07-01T00:00:00Z b exited define")
        // The same meaning again: nothing.
        #expect(try run(engine, "SEGMENT.DEFINE riders \"count(ride) >= 2\"") == .ok)
        #expect(try run(engine, "XLEN segment:riders") == .integer(3))
        // Refused whole: a drop, and a meaning that cannot be watched.
        #expect(try run(engine, "SEGMENT.DROP riders") == .error(.err("segment 'riders' is watched; SEGMENT.UNWATCH it first")))
        try run(engine, "SEGMENT.DEFINE half \"(now - signup_at) * ((now - signup_at) / 1d) > 1d\"")
        try run(engine, "SEGMENT.DEFINE ratio \"10d / (now - signup_at) > 1\"")
        try run(engine, "SEGMENT.DEFINE bound \"count(ride, from signup_at to now - (now - signup_at)) >= 1\"")
        try run(engine, "SEGMENT.DEFINE filtered \"count(ride where now > signup_at) >= 1\"")
        for (name, problem) in [
            ("half", "'now' is multiplied at 19"), ("ratio", "'now' divides at 5"),
            ("bound", "a window bound with 'now' must be now + c or now - c, at 31"), ("filtered", "'now' inside a where filter at 18"),
        ] {
            #expect(
                try run(engine, "SEGMENT.WATCH \(name)")
                    == .error(.err("segment '\(name)' cannot be watched: \(problem) (time-driven changes need now to appear linearly)")))
        }
        // A definition that makes a watched segment unwatchable is refused whole.
        #expect(try run(engine, "SEGMENT.DEFINE riders \"segment(ratio)\"") == .error(.err("segment 'riders' cannot be watched: 'now' divides at 5 (time-driven changes need now to appear linearly)")))
        #expect(try run(engine, "SEGMENT.LIST") != .null)
        #expect(try run(engine, "SEGMENT.CHECK riders a") == .integer(1))
        #expect(try run(engine, "SEGMENT.CHECK riders b") == .integer(0))
        #expect(try run(engine, "SEGMENT.WATCH nope") == .error(.err("unknown segment 'nope' (SEGMENT.WATCH takes a defined segment)")))
        #expect(try run(engine, "SEGMENT.UNWATCH riders") == .integer(1))
        #expect(try run(engine, "SEGMENT.UNWATCH riders") == .integer(0))
        #expect(try run(engine, "XLEN segment:riders") == .integer(0))
        #expect(try run(engine, "SEGMENT.DROP riders") == .integer(1))
    }

    @Test func retentionTrimsExactlyAndReportsTheGap() throws {
        let engine = try makeEngine()
        try run(engine, "SEGMENT.DEFINE riders \"count(ride, last 1h) >= 1\"")
        #expect(try run(engine, "SEGMENT.WATCH riders MAXLEN 3 MAXAGE 2h") == .array([.integer(0), .bulk("0-0")]))
        for u in ["u1", "u2", "u3", "u4"] { try run(engine, "EVENT.ADD \(u) ride *") }
        #expect(try run(engine, "XLEN segment:riders") == .integer(3))
        guard case .map(let info) = try run(engine, "XINFO STREAM segment:riders") else { throw CohortError.err("no map") }
        #expect(info.first { $0.key == .bulk("trimmed-up-to") }?.value == .bulk("1782864000000-0"))
        #expect(info.first { $0.key == .bulk("entries-added") }?.value == .integer(4))
        // An hour later all four exit at 01:00:01; the 00:00 entries are then older than 2h only at 02:00:01.
        #expect(try run(engine, "CLOCK.SET 2026-07-01T03:00:00Z") == .integer(4))
        #expect(try lines(engine, "riders") == ["2026-07-01T01:00:01Z u2 exited time", "2026-07-01T01:00:01Z u3 exited time", "2026-07-01T01:00:01Z u4 exited time"])
        #expect(
            try run(engine, "SEGMENT.WATCHES") == .array([.array([.bulk("riders"), .integer(0), .integer(3), .bulk("1782867601000-3"), .integer(3), .integer(7200)])]))
        #expect(try run(engine, "XADD segment:riders * a b") == .error(.err("segment streams are written by Cohort; consumer groups are not supported yet (store your last ID and use XREAD)")))
        #expect(try run(engine, "XRANGE segment:riders bad +") == .error(.err("Invalid stream ID specified as stream command argument")))
        #expect(try run(engine, "XINFO STREAM segment:none") == .error(.err("no such key")))
    }

    /// On the wall clock a change at T is applied once the clock reaches T + 1, with its
    /// exact time, and handed to the listener; CLOCK.SET is refused.
    @Test func wallClockAppliesEachSecondOnceItHasPassed() throws {
        final class Clock: @unchecked Sendable {
            let lock = NSLock()
            var value = ChangeFeedTests.start
            func get() -> Int64 { lock.withLock { value } }
            func set(_ t: Int64) { lock.withLock { value = t } }
        }
        final class Heard: @unchecked Sendable {
            let lock = NSLock()
            var notices: [FeedNotice] = []
        }
        let clock = Clock()
        let heard = Heard()
        let engine = Engine(clock: { clock.get() })
        engine.feedListener = { notices in heard.lock.withLock { heard.notices += notices } }
        try DefinitionsScript.run(DemoSchema.text, file: "schema", on: engine)
        try run(engine, "SEGMENT.DEFINE recent \"count(ride, last 10s) >= 1\"")
        try run(engine, "SEGMENT.WATCH recent")
        try run(engine, "EVENT.ADD w ride *")
        clock.set(ChangeFeedTests.start + 11)
        #expect(engine.advanceClock() == 0)
        #expect(engine.feedLag == 11)
        clock.set(ChangeFeedTests.start + 12)
        #expect(engine.advanceClock() == 1)
        #expect(try lines(engine, "recent") == ["2026-07-01T00:00:00Z w entered write", "2026-07-01T00:00:11Z w exited time"])
        let published = heard.lock.withLock { heard.notices.map(\.json) }
        #expect(
            published == [
                "{\"id\":\"1782864000000-0\",\"segment\":\"recent\",\"user\":\"w\",\"change\":\"entered\",\"at\":\"2026-07-01T00:00:00Z\",\"cause\":\"write\"}",
                "{\"id\":\"1782864011000-0\",\"segment\":\"recent\",\"user\":\"w\",\"change\":\"exited\",\"at\":\"2026-07-01T00:00:11Z\",\"cause\":\"time\"}",
            ])
        #expect(try run(engine, "CLOCK.SET 2026-08-01T00:00:00Z") == .error(.err("CLOCK.SET needs a fixed clock (start with --now)")))
        #expect(try run(engine, "CLOCK.GET") == .bulk("2026-07-01T00:00:12Z"))
    }

    @Test func aBulkLoadIsFollowedWithCauseLoad() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try makeEngine()
        try run(engine, "SEGMENT.DEFINE riders \"count(ride) >= 2\"")
        try run(engine, "EVENT.ADD zed ride 2026-06-01T00:00:00Z")
        try run(engine, "SEGMENT.WATCH riders")
        let csv = directory.write(
            "events.csv",
            "user_id,event,time,distance_km,duration_min,cost,car\nzed,ride,2026-06-02T00:00:00Z,,,,\nabe,ride,1780000000,,,,\nabe,ride,1780000001,,,,\nbob,ride,1780000000,,,,\n")
        _ = try engine.withExclusiveAccess { (db) throws(CohortError) in try BulkLoader.loadEvents(path: csv, into: &db) }
        engine.reevaluateWatchesAfterLoad()
        #expect(try lines(engine, "riders") == ["2026-07-01T00:00:00Z abe entered load", "2026-07-01T00:00:00Z zed entered load"])
    }

    @Test func syncPagesAPinnedMembership() throws {
        let engine = try makeEngine()
        try run(engine, "SEGMENT.DEFINE riders \"count(ride) >= 1\"")
        for i in 0..<5 { try run(engine, "EVENT.ADD u\(i) ride 2026-06-01T00:00:00Z") }
        try run(engine, "SEGMENT.WATCH riders")
        guard case .array(let first) = try run(engine, "SEGMENT.SYNC riders COUNT 2"), case .bulk(let cursor) = first[0] else {
            throw CohortError.err("no page")
        }
        #expect(first[1] == .bulk("0-0"))
        #expect(first[2] == .array([.bulk("u0"), .bulk("u1")]))
        try run(engine, "EVENT.ADD u9 ride 2026-06-01T00:00:00Z")  // after the pin: not in this sync
        try run(engine, "USER.DEL u3")
        #expect(try run(engine, "SEGMENT.SYNC riders CURSOR \(cursor) COUNT 2") == .array([.bulk(cursor), .bulk("0-0"), .array([.bulk("u2"), .bulk("u3")])]))
        #expect(try run(engine, "SEGMENT.SYNC riders CURSOR \(cursor) COUNT 2") == .array([.bulk("0"), .bulk("0-0"), .array([.bulk("u4")])]))
        #expect(try run(engine, "SEGMENT.SYNC riders CURSOR \(cursor)") == .error(.err("cursor expired; start again with CURSOR 0")))
        #expect(
            try run(engine, "SEGMENT.SYNC riders")
                == .array([.bulk("0"), .bulk("1782864000000-1"), .array(["u0", "u1", "u2", "u4", "u9"].map(Reply.bulk))]))
    }
}

/// The oracle of FEATURES Appendix B.1: membership evaluated at every second of a short
/// span (`SEGMENT.CHECK … AT t`), against the streams the engine appended, over random
/// data, random writes and deletions between random clock moves.
struct ChangeFeedOracleTests {
    static let segments: [(String, String)] = [
        ("a_count", "count(ride, last 100s) >= 2"),
        ("b_signup", "signup_at >= now - 70s"),
        ("c_last", "last(ride) >= now - 30s"),
        ("d_range", "count(ride, from now - 120s to now - 20s) >= 1"),
        ("e_expiring", "subscription_ends_at >= now and subscription_ends_at < now + 40s"),
        ("f_dormant", "sum(ride.cost, last 200s) > 20 and not count(ride, last 15s) >= 1"),
        ("g_equal", "now - signup_at = 55s"),
        ("h_in", "count(ride, last 50s) in (1, 3)"),
        ("i_gap", "avg_gap(ride, last 300s) < 60s"),
        ("j_named", "recent >= 1 and signup_at < now - 10s"),
        ("k_fixed", "count(ride, from signup_at to signup_at + 90s) >= 2 and ride_spend > 5"),
        ("l_taps", "count(tap, last 60s) >= 1 or last(tap.n) = 3"),
        // Count thresholds only: the closed form (CountTimeline).
        ("m_dormant", "count(ride, last 120s) >= 3 and not count(ride, last 25s) >= 1"),
        ("n_counts", "count(tap) > 2 or (3 > count(ride, last 40s) and signup_at >= now - 60s)"),
        // Fractional windows, a window-less count and two tables, decided on the write
        // path from event times alone.
        ("o_halves", "(count(ride, last 30.5s) >= 2 and not count(ride, last 7.5s) >= 1) or count(tap) >= 4"),
    ]

    struct Expected {
        var at: Int64
        var user: String
        var change: String
        var cause: String
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64]) func streamsMatchPerSecondEvaluation(seed: UInt64) throws {
        let t0 = ChangeFeedTests.start
        let engine = Engine(fixedNow: t0, clock: { t0 })
        var rng = SplitMix(seed: seed)
        func run(_ words: String...) -> Reply { engine.execute(words) }
        func run(_ words: [String]) -> Reply { engine.execute(words) }
        for line in [
            "ATTR.DEFINE signup_at time", "ATTR.DEFINE subscription_ends_at time", "EVENT.DEFINE ride cost:float",
            "EVENT.DEFINE tap n:int", "AGG.DEFINE recent \"count(ride, last 80s)\"", "AGG.DEFINE ride_spend \"sum(ride.cost)\"",
        ] {
            #expect(engine.execute(try InlineCommand.split(line)) == .ok)
        }
        for (name, source) in Self.segments { #expect(run("SEGMENT.DEFINE", name, source) == .ok) }
        let users = (0..<10).map { "u\($0)" }
        func randomWrite(around now: Int64) -> [String] {
            let u = users[Int(rng.next() % UInt64(users.count))]
            // Taps change only l_taps: the other segments skip them unless a change of
            // theirs falls due at exactly the write's second (it then has cause write).
            switch rng.next() % 8 {
            case 0: return ["USER.SET", u, "signup_at", String(now - 100 + Int64(rng.next() % 200))]
            case 1: return ["USER.SET", u, "subscription_ends_at", String(now - 20 + Int64(rng.next() % 150))]
            case 2, 3: return ["EVENT.ADD", u, "tap", String(now - 80 + Int64(rng.next() % 100)), "n", String(rng.next() % 5)]
            default: return ["EVENT.ADD", u, "ride", String(now - 150 + Int64(rng.next() % 220)), "cost", String(rng.next() % 15)]
            }
        }
        for _ in 0..<40 { #expect(run(randomWrite(around: t0)) == .ok) }
        for (name, _) in Self.segments { guard case .array = run("SEGMENT.WATCH", name) else { Issue.record("watch \(name)"); return } }

        // The oracle's recorded membership and expected entries, per segment.
        func member(_ s: String, _ u: String, _ t: Int64) -> Bool { run("SEGMENT.CHECK", s, u, "AT", String(t)) == .integer(1) }
        var recorded: [String: Set<String>] = [:]
        var expected: [String: [Expected]] = [:]
        for (s, _) in Self.segments { recorded[s] = Set(users.filter { member(s, $0, t0) }) }
        var live = Set(users)
        var now = t0
        for _ in 0..<25 {
            // Time passes: every change at a second before the new time, users bytewise.
            let next = now + 1 + Int64(rng.next() % 40)
            for t in now..<next {
                for (s, _) in Self.segments {
                    for u in live.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) where member(s, u, t) != recorded[s]!.contains(u) {
                        let entered = !recorded[s]!.contains(u)
                        if entered { recorded[s]!.insert(u) } else { recorded[s]!.remove(u) }
                        expected[s, default: []].append(Expected(at: t, user: u, change: entered ? "entered" : "exited", cause: "time"))
                    }
                }
            }
            #expect(run("CLOCK.SET", String(next)) != .error(.err("")))
            now = next
            // Writes at the new time, each re-evaluated for the user it names.
            for _ in 0..<Int(rng.next() % 4) {
                var words = randomWrite(around: now)
                if rng.next() % 10 == 0 { words = ["USER.DEL", words[1]] }
                let u = words[1]
                #expect(run(words) == (words[0] == "USER.DEL" ? .integer(live.contains(u) ? 1 : 0) : .ok))
                if words[0] == "USER.DEL", !live.contains(u) { continue }
                for (s, _) in Self.segments {
                    if words[0] == "USER.DEL" {
                        let was = recorded[s]!.contains(u)
                        expected[s, default: []].removeAll { $0.user == u }
                        if was { expected[s, default: []].append(Expected(at: now, user: u, change: "exited", cause: "delete")) }
                        recorded[s]!.remove(u)
                    } else if member(s, u, now) != recorded[s]!.contains(u) {
                        let entered = !recorded[s]!.contains(u)
                        if entered { recorded[s]!.insert(u) } else { recorded[s]!.remove(u) }
                        expected[s, default: []].append(Expected(at: now, user: u, change: entered ? "entered" : "exited", cause: "write"))
                    }
                }
                if words[0] == "USER.DEL" { live.remove(u) } else { live.insert(u) }
            }
        }
        for (s, _) in Self.segments {
            guard case .array(let entries) = run("XRANGE", "segment:" + s, "-", "+") else {
                Issue.record("XRANGE \(s)")
                continue
            }
            let got = entries.map { entry -> Expected in
                guard case .array(let parts) = entry, case .array(let fields) = parts[1], case .bulk(let user) = fields[1],
                    case .bulk(let change) = fields[3], case .bulk(let at) = fields[5], case .bulk(let cause) = fields[7]
                else { return Expected(at: 0, user: "?", change: "?", cause: "?") }
                return Expected(at: TimeFormat.parse(at) ?? 0, user: user, change: change, cause: cause)
            }
            let want = expected[s] ?? []
            #expect(got.map { "\(s) \($0.at) \($0.user) \($0.change) \($0.cause)" } == want.map { "\(s) \($0.at) \($0.user) \($0.change) \($0.cause)" })
            #expect(run("SEGMENT.WATCHES") != .null)
        }
    }
}


/// Streams, recorded memberships and the clock across restarts (FEATURES §1.5.5): the
/// snapshot plus the journal, whose records carry their commit times, give the same
/// entries with the same IDs; changes due while the engine was down are appended at
/// start-up with their exact times.
struct ChangeFeedPersistenceTests {
    static let script = [
        "SEGMENT.DEFINE active_riders \"count(ride, last 30d) >= 3\"", "SEGMENT.WATCH active_riders MAXLEN 100",
        "EVENT.ADD u1 ride 2026-06-05T08:00:00Z", "EVENT.ADD u1 ride 2026-06-20T08:00:00Z", "EVENT.ADD u1 ride 2026-06-30T08:00:00Z",
        "EVENT.ADD u2 ride 2026-06-25T10:00:00Z", "EVENT.ADD u2 ride 2026-06-28T10:00:00Z", "EVENT.ADD u2 ride 2026-07-02T09:00:00Z",
        "CLOCK.SET 2026-07-06T00:00:00Z", "SNAPSHOT", "EVENT.ADD u1 ride *", "USER.DEL u2", "EVENT.ADD u3 ride *",
    ]

    func open(_ directory: TemporaryDirectory, now: Int64, define: Bool = false) throws -> (DataDirectory, Engine) {
        let (d, e, _) = try DataDirectory.open(directory.path, create: true, appendfsync: .always, fixedNow: now, clock: { now })
        if define { try DefinitionsScript.run(DemoSchema.text, file: "schema", on: e) }
        return (d, e)
    }

    @Test(arguments: [true, false]) func sameEntriesAfterARestart(withSnapshot: Bool) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let start = ChangeFeedTests.start
        var before: [Reply] = []
        // The RECORDED series reads the watch's start (nil before it) from the snapshot or the replay.
        let series = "SERIES.COUNT active_riders BY day FROM 2026-06-29 TO 2026-07-06 RECORDED AT 2026-07-06T00:00:00Z"
        let questions = ["XRANGE segment:active_riders - +", "XINFO STREAM segment:active_riders", "SEGMENT.WATCHES", "SEGMENT.SYNC active_riders", series]
        do {
            let (dataDirectory, engine) = try open(directory, now: start, define: true)
            for line in Self.script where withSnapshot || line != "SNAPSHOT" { #expect(!engine.run(line).isError, "\(line)") }
            before = questions.map { engine.run($0) }
            guard case .array(let rows) = before[4], rows.count == 7, case .array(let first) = rows[0] else {
                Issue.record("no RECORDED series: \(before[4])")
                return
            }
            #expect(first[1] == .null)
            try dataDirectory.close()
        }
        // Restarted with an earlier --now: the clock stays at the last CLOCK.SET.
        do {
            let (dataDirectory, engine) = try open(directory, now: start)
            defer { try? dataDirectory.close() }
            #expect(engine.run("CLOCK.GET") == .bulk("2026-07-06T00:00:00Z"))
            #expect(questions.map { engine.run($0) } == before)
        }
        // Restarted later: u1's 06-20 ride left the window at 07-20T08:00:01 while it was down.
        let (dataDirectory, engine) = try open(directory, now: TimeFormat.parse("2026-07-21T00:00:00Z")!)
        defer { try? dataDirectory.close() }
        guard case .array(let entries) = engine.run("XRANGE segment:active_riders 1783296000000-2 +") else {
            Issue.record("no entries")
            return
        }
        let fields: [Reply] = ["user", "u1", "change", "exited", "at", "2026-07-20T08:00:01Z", "cause", "time"].map(Reply.bulk)
        #expect(entries == [Reply.array([.bulk("1784534401000-0"), .array(fields)])])
    }
    /// Regression: a directory loaded on the wall clock (its snapshot's feed time is
    /// then) and served at an earlier `--now` ran at the load's time, so no window in the
    /// benchmark's data held anything. With nothing watched, `--now` is the engine time.
    @Test func anEarlierNowWinsWhenNothingIsWatched() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let loadTime = TimeFormat.parse("2026-12-03T15:00:00Z")!
        do {
            let (dataDirectory, engine) = try open(directory, now: loadTime, define: true)
            #expect(!engine.run("SNAPSHOT").isError)
            try dataDirectory.close()
        }
        let (dataDirectory, engine) = try open(directory, now: ChangeFeedTests.start)
        defer { try? dataDirectory.close() }
        #expect(engine.run("CLOCK.GET") == .bulk("2026-07-01T00:00:00Z"))
        #expect(engine.run("EVENT.ADD p1 purchase 2026-06-30T00:00:00Z amount 300") == .status("OK"))
        #expect(engine.run("SEGMENT.CHECK big_spenders p1") == .integer(1))
        #expect(engine.run("SEGMENT.WATCH big_spenders") == .array([.integer(1), .bulk("0-0")]))
    }
}
