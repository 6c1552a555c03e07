import CohortCore
import Testing

/// DESIGN §3 semantics, rule by rule, on small hand-made data with hand-computed answers.
struct SegmentSemanticsTests {
    static let day: Int64 = 86_400
    static let now: Int64 = 1_782_820_800  // 2026-06-30T12:00:00Z

    /// Users: a (pro, PL, verified, 30, tags vip), b (free, DE, not verified, score 2.5),
    /// c (no attributes, one event after now), d (only a users.csv-style empty row).
    func makeEngine() -> Engine {
        let engine = Engine(fixedNow: Self.now, clock: { Self.now })
        let n = Self.now
        let d = Self.day
        let script: [[String]] = [
            ["ATTR.DEFINE", "plan", "string"], ["ATTR.DEFINE", "country", "string"], ["ATTR.DEFINE", "verified", "bool"],
            ["ATTR.DEFINE", "age", "int"], ["ATTR.DEFINE", "score", "float"], ["ATTR.DEFINE", "signup_at", "time"],
            ["ATTR.DEFINE", "tags", "tags"], ["ATTR.DEFINE", "subscription_ends_at", "time"],
            ["EVENT.DEFINE", "ride", "distance_km:float", "cost:float", "car:string", "minutes:int"],
            ["EVENT.DEFINE", "app_open"], ["EVENT.DEFINE", "nps", "score:int"],
            ["USER.SET", "a", "plan", "pro", "country", "PL", "verified", "true", "age", "30", "tags", "vip",
                "signup_at", String(n - 10 * d), "subscription_ends_at", String(n + 3 * d)],
            ["USER.SET", "b", "plan", "free", "country", "DE", "verified", "false", "score", "2.5", "signup_at", String(n - 100 * d)],
            ["USER.SET", "d", "age", ""],
            // a: rides at now-90d (window edge), now-30d, now-10d, now-10d (tie), now (edge), now+1 (future)
            ["EVENT.ADD", "a", "ride", String(n - 90 * d), "cost", "10", "car", "i3", "distance_km", "12"],
            ["EVENT.ADD", "a", "ride", String(n - 30 * d), "cost", "20", "car", "i3_premium", "distance_km", "15"],
            ["EVENT.ADD", "a", "ride", String(n - 10 * d), "cost", "30", "car", "fiat"],
            ["EVENT.ADD", "a", "ride", String(n - 10 * d), "cost", "40", "car", "tesla"],
            ["EVENT.ADD", "a", "ride", String(n), "car", "i3"],
            ["EVENT.ADD", "a", "ride", String(n + 1), "cost", "1000"],
            ["EVENT.ADD", "a", "nps", String(n - 5 * d), "score", "10"],
            ["EVENT.ADD", "a", "nps", String(n - 2 * d), "score", "6"],
            // b: app opens 10 days apart, 3 of them, then 0-gap duplicate
            ["EVENT.ADD", "b", "app_open", String(n - 30 * d)], ["EVENT.ADD", "b", "app_open", String(n - 20 * d)],
            ["EVENT.ADD", "b", "app_open", String(n - 10 * d)], ["EVENT.ADD", "b", "app_open", String(n - 10 * d)],
            ["EVENT.ADD", "b", "ride", String(n - 100 * d), "cost", "5"],
            // c exists only through an event after now.
            ["EVENT.ADD", "c", "ride", String(n + 5 * d), "cost", "1"],
        ]
        for words in script { #expect(engine.execute(words) == .ok, "\(words)") }
        return engine
    }

    func members(_ engine: Engine, _ target: String) -> [String] {
        guard case .array(let parts) = engine.execute(["SEGMENT.MEMBERS", target, "COUNT", "100"]), case .array(let ids) = parts[1] else {
            Issue.record("\(target): \(engine.execute(["SEGMENT.MEMBERS", target]))")
            return []
        }
        return ids.map { if case .bulk(let s) = $0 { s } else { "?" } }.sorted()
    }

    func get(_ engine: Engine, _ user: String, _ expressions: String...) -> [Reply] {
        guard case .array(let values) = engine.execute(["AGG.GET", user] + expressions) else {
            Issue.record("AGG.GET failed: \(engine.execute(["AGG.GET", user] + expressions))")
            return []
        }
        return values
    }

    @Test func windowsAreInclusiveAtNowMinusDAndNowAndHideTheFuture() {
        let e = makeEngine()
        // last 90d: now-90d .. now inclusive: 5 rides (the one at now+1 is invisible).
        #expect(get(e, "a", "count(ride, last 90d)", "count(ride, last 30d)", "count(ride)", "count(ride, last 0d)") == [.integer(5), .integer(4), .integer(5), .integer(1)])
        // from A to B: A <= t < B.
        #expect(get(e, "a", "count(ride, from now - 30d to now - 10d)", "count(ride, from now - 30d to now - 10d + 1s)") == [.integer(1), .integer(3)])
        // from/to may reach past now; events after now stay invisible.
        #expect(get(e, "a", "count(ride, from now - 1d to now + 10d)") == [.integer(1)])
        #expect(get(e, "c", "count(ride)", "last(ride)") == [.integer(0), .null])
    }

    @Test func sumOfNoneIsZeroAndAvgMinMaxFirstLastOfNoneAreNull() {
        let e = makeEngine()
        #expect(get(e, "b", "sum(ride.cost, last 30d)", "avg(ride.cost, last 30d)", "min(ride.cost, last 30d)", "max(ride.cost, last 30d)",
            "first(ride, last 30d)", "last(ride.cost, last 30d)", "distinct(ride.car, last 30d)") == [.double(0), .null, .null, .null, .null, .null, .integer(0)])
        // Non-null values only: a's ride at now has no cost.
        #expect(get(e, "a", "sum(ride.cost, last 90d)", "avg(ride.cost, last 90d)", "min(ride.cost)", "max(ride.cost)") == [.double(100), .double(25), .double(10), .double(40)])
    }

    @Test func firstAndLastBreakTiesByArrival() {
        let e = makeEngine()
        #expect(get(e, "a", "last(ride.car, last 15d)", "first(ride.car, last 15d)") == [.bulk("i3"), .bulk("fiat")])
        #expect(get(e, "a", "last(ride.car, from now - 11d to now - 9d)", "first(ride.cost, from now - 11d to now - 9d)") == [.bulk("tesla"), .double(30)])
        #expect(get(e, "a", "last(ride)", "first(ride)") == [.bulk("2026-06-30T12:00:00Z"), .bulk("2026-04-01T12:00:00Z")])
        #expect(get(e, "a", "last(ride.cost)") == [.null])  // the latest ride has no cost
        #expect(get(e, "a", "last(nps.score)") == [.integer(6)])
    }

    @Test func distinctAndAvgGap() {
        let e = makeEngine()
        #expect(get(e, "a", "distinct(ride.car)", "distinct(ride.distance_km)") == [.integer(4), .integer(2)])
        // b's opens at -30, -20, -10, -10 days: gaps 10d, 10d, 0 -> mean 20d/3.
        #expect(get(e, "b", "avg_gap(app_open)") == [.double(Double(20 * Self.day) / 3)])
        #expect(get(e, "a", "avg_gap(app_open)", "avg_gap(nps, last 3d)") == [.null, .null])
    }

    @Test func whereFiltersAndItsNotIsTheComplementAmongTheUsersEvents() {
        let e = makeEngine()
        #expect(get(e, "a", #"count(ride where car = "i3", last 90d)"#, "count(ride where cost > 15)", "count(ride where not cost > 15)") == [.integer(2), .integer(3), .integer(2)])
        // A property shadows an attribute of the same name (nps.score vs the score attribute).
        #expect(get(e, "a", "count(nps where score >= 9)") == [.integer(1)])
        // Attributes are visible inside where.
        #expect(get(e, "a", "count(ride where age = 30 and cost >= 20)") == [.integer(3)])
        #expect(members(e, #"count(ride where distance_km > 10 and car = "i3_premium", last 30d) >= 1"#) == ["a"])
    }

    @Test func arithmeticNullsDivisionAndTimes() {
        let e = makeEngine()
        #expect(get(e, "a", "7 / 2", "age + score", "age / 0", "-age * 2", "signup_at + 1d", "now - signup_at", "sum(ride.cost) / count(ride)") == [
            .double(3.5), .null, .null, .integer(-60), .bulk("2026-06-21T12:00:00Z"), .double(Double(10 * Self.day)), .double(20),
        ])
        #expect(members(e, "now - signup_at > 30d") == ["b"])
        #expect(members(e, #"signup_at >= "2026-06-01""#) == ["a"])
        #expect(e.execute(["SEGMENT.COUNT", #"signup_at >= "June""#]) == .error(.err("type error at 14: cannot read 'June' as a time (use ISO-8601 such as 2026-06-30)")))
    }

    @Test func nullOperandsAreFalseExceptNotEqualAndIsNull() {
        let e = makeEngine()
        // c and d have no plan: `=` false, `!=` true (it is not (a = b)).
        #expect(members(e, #"plan = "free""#) == ["b"])
        #expect(members(e, #"plan != "free""#) == ["a", "c", "d"])
        #expect(members(e, "score < 10") == ["b"])
        #expect(members(e, "not score < 10") == ["a", "c", "d"])
        #expect(members(e, #"plan in ("pro", "free")"#) == ["a", "b"])
        #expect(members(e, "plan is null") == ["c", "d"])
        #expect(members(e, "age is not null") == ["a"])
        #expect(members(e, #"tags has "vip""#) == ["a"])
        #expect(members(e, #"not tags has "vip""#) == ["b", "c", "d"])
        #expect(members(e, "tags is null") == ["b", "c", "d"])
        #expect(members(e, "verified") == ["a"])
        #expect(members(e, "not verified") == ["b", "c", "d"])
        #expect(members(e, "verified = false") == ["b"])
    }

    @Test func notIsTheComplementAmongExistingUsersAndDeletionLeavesEverySegment() {
        let e = makeEngine()
        #expect(members(e, "not count(ride) >= 1") == ["c", "d"])  // c's only ride is after now
        #expect(e.execute(["SEGMENT.COUNT", "not age = 1"]) == .integer(4))
        #expect(e.execute(["USER.DEL", "a"]) == .integer(1))
        #expect(members(e, "not age = 1") == ["b", "c", "d"])
        #expect(members(e, "count(ride, last 90d) >= 1") == [])
        #expect(e.execute(["SEGMENT.CHECK", "count(ride) >= 0", "a"]) == .integer(0))
    }

    @Test func namedSegmentsAggregatesAndCycles() {
        let e = makeEngine()
        #expect(e.execute(["AGG.DEFINE", "spend", "sum(ride.cost, last 90d)"]) == .ok)
        #expect(e.execute(["SEGMENT.DEFINE", "payers", "spend > 50"]) == .ok)
        #expect(e.execute(["SEGMENT.DEFINE", "pl_payers", #"segment(payers) and country = "PL""#]) == .ok)
        #expect(members(e, "pl_payers") == ["a"])
        #expect(members(e, "segment(pl_payers) or plan = \"free\"") == ["a", "b"])
        #expect(get(e, "a", "spend", "spend * 2") == [.double(100), .double(200)])
        // Redefining payers to refer to pl_payers would close a cycle.
        #expect(e.execute(["SEGMENT.DEFINE", "payers", "segment(pl_payers)"]) == .error(.err("segment cycle: payers -> pl_payers -> payers")))
        #expect(e.execute(["SEGMENT.DEFINE", "self", "segment(self)"]) == .error(.err("segment cycle: self -> self")))
        #expect(e.execute(["SEGMENT.DROP", "payers"]) == .error(.err("segment 'payers' is used by segment 'pl_payers'; drop or redefine that first")))
        #expect(e.execute(["SEGMENT.DROP", "pl_payers"]) == .integer(1))
        #expect(e.execute(["SEGMENT.DROP", "pl_payers"]) == .integer(0))
        #expect(e.execute(["SEGMENT.LIST"]) == .array([.array([.bulk("payers"), .bulk("spend > 50")])]))
        #expect(e.execute(["AGG.DEFINE", "age", "count(ride)"]) == .error(.err("'age' is an attribute; an aggregate needs another name")))
        #expect(e.execute(["INFO"]).isError == false)
    }

    @Test func typeAndNameErrorsNameThePosition() {
        let e = makeEngine()
        let cases: [(String, String)] = [
            (#"paln = "pro""#, "unknown attribute 'paln' at 1"),
            ("plan = 3", "type error at 6: cannot compare string with int"),
            ("count(walk) > 1", "unknown event 'walk' at 7"),
            ("sum(ride.speed) > 1", "unknown property 'speed' of event 'ride' at 10"),
            ("sum(ride.car) > 1", "type error at 1: cannot take sum of string property 'car'"),
            ("segment(nope)", "unknown segment 'nope' at 1"),
            (#"age has "x""#, "type error at 1: 'has' needs a tags attribute, 'age' is int"),
            ("plan", "type error at 1: expected a bool test, got string"),
            ("verified < true", "type error at 10: cannot order bool values with <"),
            ("signup_at + signup_at > now", "type error at 11: cannot compute time + time"),
            ("count(ride, from 1d to now) > 0", "type error at 18: a 'from ... to' window needs times, got duration"),
            ("count(ride, last 30d) >= 5 and (", "syntax error at 33: expected a value"),
        ]
        for (source, message) in cases {
            #expect(e.execute(["SEGMENT.COUNT", source]) == .error(.err(message)), "\(source)")
        }
    }

    @Test func countMembersPagingCheckOverlapAndAt() {
        let e = makeEngine()
        #expect(e.execute(["SEGMENT.COUNT", "count(ride) >= 0"]) == .integer(4))
        // Paging: cursor 0 starts; the returned cursor resumes; 0 ends.
        var seen: [String] = []
        var cursor = "0"
        repeat {
            guard case .array(let parts) = e.execute(["SEGMENT.MEMBERS", "count(ride) >= 0", "CURSOR", cursor, "COUNT", "3"]),
                case .bulk(let next) = parts[0], case .array(let ids) = parts[1]
            else {
                Issue.record("bad MEMBERS reply")
                return
            }
            seen += ids.map { if case .bulk(let s) = $0 { s } else { "?" } }
            cursor = next
        } while cursor != "0"
        // Stable order: users in row order (order of first write), each exactly once.
        #expect(seen == ["a", "b", "d", "c"])
        #expect(e.execute(["SEGMENT.CHECK", #"plan = "pro""#, "a"]) == .integer(1))
        #expect(e.execute(["SEGMENT.CHECK", #"plan = "pro""#, "b"]) == .integer(0))
        #expect(e.execute(["SEGMENT.CHECK", #"plan = "pro""#, "nobody"]) == .integer(0))
        // AT moves now: 100 days ago, b's old ride was "now".
        #expect(e.execute(["SEGMENT.COUNT", "count(ride, last 1d) >= 1", "AT", String(Self.now - 100 * Self.day)]) == .integer(1))
        #expect(e.execute(["SEGMENT.CHECK", "count(ride, last 1d) >= 1", "b", "AT", "2026-03-22T12:00:00Z"]) == .integer(1))
        #expect(e.execute(["SEGMENT.OVERLAP", "verified", #"plan = "pro""#, "count(ride) >= 1"]) == .array([
            .array([.integer(1), .integer(1), .integer(1)]), .array([.integer(1), .integer(1), .integer(1)]),
            .array([.integer(1), .integer(1), .integer(2)]),
        ]))
    }

    @Test func refreshReportsEnteredAndExitedAgainstThePreviousRefresh() {
        let e = makeEngine()
        #expect(e.execute(["SEGMENT.DEFINE", "riders", "count(ride, last 30d) >= 1"]) == .ok)
        #expect(e.execute(["SEGMENT.REFRESH", "riders"]) == .array([.integer(1), .integer(1), .integer(0)]))
        #expect(e.execute(["SEGMENT.REFRESH", "riders"]) == .array([.integer(1), .integer(0), .integer(0)]))
        #expect(e.execute(["EVENT.ADD", "b", "ride", String(Self.now - 1)]) == .ok)
        #expect(e.execute(["SEGMENT.REFRESH", "riders"]) == .array([.integer(2), .integer(1), .integer(0)]))
        // 40 days later both have left.
        #expect(e.execute(["SEGMENT.REFRESH", "riders", "AT", String(Self.now + 40 * Self.day)]) == .array([.integer(0), .integer(0), .integer(2)]))
        #expect(e.execute(["SEGMENT.REFRESH", "nope"]).isError)
    }

    @Test func aggregateStatsOverAGroup() {
        let e = makeEngine()
        // users 4; a has 100 over 90 days, b 0 (sum of none), c 0, d 0.
        #expect(e.execute(["AGG.STATS", "sum(ride.cost, last 90d)"]) == .array([.integer(4), .integer(4), .double(100), .double(0), .double(100), .double(25)]))
        #expect(e.execute(["AGG.STATS", "age", "IN", "count(ride) >= 0"]) == .array([.integer(4), .integer(1), .integer(30), .integer(30), .integer(30), .double(30)]))
        #expect(e.execute(["AGG.STATS", "avg(ride.cost)", "IN", #"plan = "nobody""#]) == .array([.integer(0), .integer(0), .null, .null, .null, .null]))
    }

    /// `count(e.p)` counts the events whose p is non-null, on every path: the batch
    /// kernel (COUNT, MEMBERS), the one-user path (CHECK) and AGG.GET (issue 12's bug).
    @Test func countOfAPropertyCountsNonNullValuesOnEveryPath() {
        let e = Engine(fixedNow: Self.now, clock: { Self.now })
        for words in [
            ["EVENT.DEFINE", "ride", "cost:float"], ["EVENT.ADD", "u1", "ride", String(Self.now - 3)],
            ["EVENT.ADD", "u1", "ride", String(Self.now - 2), "cost", "4.5"], ["EVENT.ADD", "u1", "ride", String(Self.now - 1)],
        ] { #expect(e.execute(words) == .ok) }
        #expect(e.execute(["SEGMENT.COUNT", "count(ride.cost) >= 2"]) == .integer(0))
        #expect(e.execute(["SEGMENT.CHECK", "count(ride.cost) >= 2", "u1"]) == .integer(0))
        #expect(e.execute(["SEGMENT.CHECK", "count(ride.cost) = 1", "u1"]) == .integer(1))
        #expect(e.execute(["SEGMENT.COUNT", "count(ride.cost) = 1"]) == .integer(1))
        #expect(members(e, "count(ride.cost where cost > 1) = 1") == ["u1"])
        #expect(e.execute(["AGG.GET", "u1", "count(ride.cost)", "count(ride)", "count(ride.cost, last 2s)"]) == .array([.integer(1), .integer(3), .integer(1)]))
    }

    /// `int` is Int64 (DESIGN §1): comparisons, `in`, arithmetic and int aggregates are
    /// exact above 2^53, where a Double cannot tell 2^53 from 2^53 + 1, on the batch path
    /// (COUNT, MEMBERS), the one-user path (CHECK) and AGG.GET/AGG.STATS; overflow is null.
    @Test func intsStayExactAbove2To53() {
        let e = Engine(fixedNow: Self.now, clock: { Self.now })
        let big = "9007199254740993"  // 2^53 + 1
        for words in [
            ["ATTR.DEFINE", "balance", "int"], ["EVENT.DEFINE", "tx", "amount:int"],
            ["USER.SET", "u1", "balance", big], ["USER.SET", "u2", "balance", "9007199254740992"],
            ["EVENT.ADD", "u1", "tx", String(Self.now - 2), "amount", big], ["EVENT.ADD", "u1", "tx", String(Self.now - 1), "amount", "1"],
            ["EVENT.ADD", "u2", "tx", String(Self.now - 1), "amount", "9007199254740992"],
        ] { #expect(e.execute(words) == .ok) }
        #expect(members(e, "balance = \(big)") == ["u1"])
        #expect(members(e, "balance > 9007199254740992") == ["u1"])
        #expect(members(e, "balance in (\(big), 5)") == ["u1"])
        #expect(e.execute(["SEGMENT.CHECK", "balance = \(big)", "u2"]) == .integer(0))
        #expect(e.execute(["SEGMENT.CHECK", "balance - 9007199254740992 = 1", "u1"]) == .integer(1))
        #expect(members(e, "sum(tx.amount) = 9007199254740994") == ["u1"])
        #expect(members(e, "max(tx.amount, last 1d) = \(big)") == ["u1"])
        #expect(members(e, "count(tx where amount = \(big)) = 1") == ["u1"])
        #expect(e.execute(["SEGMENT.CHECK", "first(tx.amount) = \(big)", "u1"]) == .integer(1))
        #expect(
            e.execute(["AGG.GET", "u1", "balance", "balance + 1", "sum(tx.amount)", "first(tx.amount)", "last(tx.amount)", "min(tx.amount)"])
                == .array([.integer(9_007_199_254_740_993), .integer(9_007_199_254_740_994), .integer(9_007_199_254_740_994),
                    .integer(9_007_199_254_740_993), .integer(1), .integer(1)]))
        // Int64 overflow is null, never a wrapped number.
        #expect(e.execute(["AGG.GET", "u1", "balance * 1000000", "sum(tx.amount) * 1000000"]) == .array([.null, .null]))
        #expect(e.execute(["SEGMENT.COUNT", "balance * 1000000 > 0"]) == .integer(0))
        #expect(
            e.execute(["AGG.STATS", "balance"])
                == .array([.integer(2), .integer(2), .integer(18_014_398_509_481_985), .integer(9_007_199_254_740_992),
                    .integer(9_007_199_254_740_993), .double(9_007_199_254_740_992.5)]))
        #expect(e.execute(["SEGMENT.COUNT", "balance = 99999999999999999999"]) == .error(.err("syntax error at 11: number too large (ints are 64-bit)")))
    }
}
