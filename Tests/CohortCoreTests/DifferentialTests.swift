@testable import CohortCore
import CohortTestSupport
import Foundation
import Testing

/// Random expressions over random small data: the engine against `Reference`, a
/// straightforward per-user interpreter of DESIGN §3 written here (no bitmaps, no
/// columns, no plans). Fixed seeds, thousands of cases. Each seed runs three times: with
/// every event in the delta (as written); with merges after nearly every write, so most
/// events are in the sorted base and are read by the batch kernels (window passes,
/// compiled `where` filters, sorted `distinct`) while some stay in the delta; and split,
/// every user's events merged and then more of them written to the delta, so most users
/// have both (the kernels' base value completed by the delta's).
struct DifferentialTests {
    static let now: Int64 = 1_782_820_800
    static let day: Int64 = 86_400

    /// Where the test's events are when it asks.
    enum Layout: CaseIterable { case delta, merged, split }

    @Test(arguments: [1, 2, 3, 4] as [UInt64], Layout.allCases)
    func engineAgreesWithTheReference(seed: UInt64, layout: Layout) throws {
        var rng = SplitMix(seed: seed)
        let (engine, reference) = makeData(&rng, layout: layout)
        var generator = ExpressionGenerator(rng: rng)
        try engine.snapshotView().checkInvariants()
        for _ in 0..<300 {
            let source = generator.predicate(depth: 3)
            let predicate = try Parser.predicate(source)
            let expected = reference.users.filter { reference.test(predicate, $0, nil) }
            guard case .array(let parts) = engine.execute(["SEGMENT.MEMBERS", source, "COUNT", "1000"]), case .array(let ids) = parts[1] else {
                Issue.record("engine failed on \(source): \(engine.execute(["SEGMENT.MEMBERS", source]))")
                continue
            }
            let actual = ids.map { if case .bulk(let s) = $0 { s } else { "?" } }
            #expect(Set(actual) == Set(expected), "\(source)")
            #expect(engine.execute(["SEGMENT.COUNT", source]) == .integer(Int64(expected.count)), "COUNT \(source)")
            // The one-user path must agree too.
            let user = reference.users[Int(generator.rng.next() % UInt64(reference.users.count))]
            #expect(engine.execute(["SEGMENT.CHECK", source, user]) == .integer(expected.contains(user) ? 1 : 0), "CHECK \(source) \(user)")
        }
        for _ in 0..<200 {
            let source = generator.number(depth: 2)
            let expression = try Parser.value(source)
            let user = reference.users[Int(generator.rng.next() % UInt64(reference.users.count))]
            let expected = reference.value(expression, user, nil)
            let reply = engine.execute(["AGG.GET", user, source])
            guard case .array(let values) = reply, values.count == 1 else {
                Issue.record("engine failed on \(source): \(reply)")
                continue
            }
            #expect(Self.matches(values[0], expected), "\(source) for \(user): engine \(values[0]), reference \(expected)")
        }
    }

    static func matches(_ reply: Reply, _ value: Reference.V) -> Bool {
        switch (reply, value) {
        case (.null, .null): return true
        case (.integer(let a), .number(let b)): return Double(a) == b
        case (.double(let a), .number(let b)): return a == b || abs(a - b) <= 1e-9 * max(1, abs(b))
        case (.bulk(let s), .number(let b)): return TimeFormat.parse(s) == Int64(b)
        case (.bulk(let a), .string(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        default: return false
        }
    }

    /// 30 users with random attributes (30% null each) and events on whole days around now.
    func makeData(_ rng: inout SplitMix, layout: Layout = .delta) -> (Engine, Reference) {
        let engine = Engine(fixedNow: Self.now, clock: { Self.now })
        if layout != .delta { engine.mergeThreshold = 1 }
        defer { engine.waitForMerges() }
        for line in [
            ["ATTR.DEFINE", "plan", "string"], ["ATTR.DEFINE", "age", "int"], ["ATTR.DEFINE", "score", "float"],
            ["ATTR.DEFINE", "verified", "bool"], ["ATTR.DEFINE", "signup", "time"], ["ATTR.DEFINE", "tags", "tags"],
            ["EVENT.DEFINE", "ride", "cost:float", "car:string", "n:int"], ["EVENT.DEFINE", "open"],
        ] { _ = engine.execute(line) }
        var reference = Reference(now: Self.now)
        func pick<T>(_ options: [T]) -> T { options[Int(rng.next() % UInt64(options.count))] }
        func maybe() -> Bool { rng.next() % 10 < 7 }
        for u in 0..<30 {
            let user = "u\(u)"
            var attributes: [String: Reference.V] = [:]
            var words = ["USER.SET", user]
            if maybe() { attributes["plan"] = .string(pick(["free", "pro", "trial"])) }
            if maybe() { attributes["age"] = .number(Double(rng.next() % 60)) }
            if maybe() { attributes["score"] = .number(Double(rng.next() % 100) / 4) }
            if maybe() { attributes["verified"] = .bool(rng.next() % 2 == 0) }
            if maybe() { attributes["signup"] = .number(Double(Self.now - Int64(rng.next() % 90) * Self.day)) }
            if maybe() { attributes["tags"] = .tags(Set(["vip", "beta", "x"].filter { _ in rng.next() % 2 == 0 })) }
            for (name, value) in attributes.sorted(by: { $0.key < $1.key }) {
                switch value {
                case .string(let s): words += [name, s]
                case .number(let x): words += [name, name == "score" ? String(x) : String(Int64(x))]
                case .bool(let b): words += [name, b ? "true" : "false"]
                case .tags(let t): words += [name, t.sorted().joined(separator: "|")]
                case .null: break
                }
            }
            if case .tags(let t)? = attributes["tags"], t.isEmpty { attributes["tags"] = nil }
            let onlyEvents = u % 7 == 6  // some users exist only through events
            if !onlyEvents {
                if words.count == 2 { words += ["age", ""] }
                #expect(engine.execute(words) == .ok, "\(words)")
                reference.users.append(user)
                reference.attributes[user] = attributes
            }
            for _ in 0..<(rng.next() % 9) { addRide(user) }
            for _ in 0..<(rng.next() % 5) { addOpen(user) }
        }
        if layout == .split {
            // Everything so far in the base; now more events for every user, in the delta.
            engine.waitForMerges()
            engine.mergeThreshold = .max
            for u in 0..<30 {
                for _ in 0..<(1 + rng.next() % 3) { addRide("u\(u)") }
                if rng.next() % 2 == 0 { addOpen("u\(u)") }
            }
        }
        func addRide(_ user: String) {
            let time = Self.now + (Int64(rng.next() % 66) - 60) * Self.day
            var props: [String: Reference.V] = [:]
            var add = ["EVENT.ADD", user, "ride", String(time)]
            if maybe() { props["cost"] = .number(Double(rng.next() % 50) + 0.5) }
            if maybe() { props["car"] = .string(pick(["a", "b", "c"])) }
            if maybe() { props["n"] = .number(Double(rng.next() % 6)) }
            for (name, value) in props.sorted(by: { $0.key < $1.key }) {
                switch value {
                case .number(let x): add += [name, name == "n" ? String(Int64(x)) : String(x)]
                case .string(let s): add += [name, s]
                default: break
                }
            }
            #expect(engine.execute(add) == .ok)
            reference.add(user, "ride", time, props)
        }
        func addOpen(_ user: String) {
            let time = Self.now + (Int64(rng.next() % 66) - 60) * Self.day
            #expect(engine.execute(["EVENT.ADD", user, "open", String(time)]) == .ok)
            reference.add(user, "open", time, [:])
        }
        return (engine, reference)
    }
}

/// Builds random, well-typed expression texts over the test schema.
struct ExpressionGenerator {
    var rng: SplitMix

    mutating func pick<T>(_ options: [T]) -> T { options[Int(rng.next() % UInt64(options.count))] }
    mutating func int(_ range: Range<Int>) -> Int { range.lowerBound + Int(rng.next() % UInt64(range.count)) }

    mutating func predicate(depth: Int) -> String {
        if depth > 0 && rng.next() % 3 == 0 {
            switch int(0..<3) {
            case 0: return "not \(predicate(depth: depth - 1))"
            case 1: return "(\(predicate(depth: depth - 1)) and \(predicate(depth: depth - 1)))"
            default: return "(\(predicate(depth: depth - 1)) or \(predicate(depth: depth - 1)))"
            }
        }
        switch int(0..<13) {
        case 0: return "\(number(depth: 1)) \(pick(["=", "!=", "<", "<=", ">", ">="])) \(number(depth: 0))"
        case 1: return "plan \(pick(["=", "!=", "<", ">="])) \"\(pick(["free", "pro", "trial", "m"]))\""
        case 2: return "plan in (\"\(pick(["free", "pro"]))\", \"trial\")"
        case 3: return "\(pick(["age", "score", "plan", "tags", "verified", "signup", "last(ride.car)", "avg(ride.cost)"])) is \(pick(["", "not "]))null"
        case 4: return "tags has \"\(pick(["vip", "beta", "zzz"]))\""
        case 5: return pick(["verified", "verified = true", "verified = false", "not verified"])
        case 6: return "\(time()) \(pick(["<", ">=", "=", "!="])) \(time())"
        case 7: return "signup \(pick(["<", ">="])) \"2026-\(pick(["04", "05", "06"]))-\(pick(["01", "15"]))\""
        case 8: return "(now - \(pick(["signup", "last(ride)", "first(open)"]))) \(pick(["<", ">"])) \(int(0..<60))d"
        case 9: return "\(number(depth: 1)) in (\(int(0..<5)), \(int(0..<30)), \(int(0..<3))d)"
        case 10: return "last(ride.car\(window())) \(pick(["=", "!="])) \"\(pick(["a", "b"]))\""
        case 11: return "count(ride\(filter())\(window())) >= \(int(0..<4))"
        case 12:
            // Thresholds on extremes, either way round (what the activity index's tails prune).
            let extreme = "\(pick(["max", "min"]))(ride.\(pick(["cost", "n"]))\(filter())\(window()))"
            let (op, c) = (pick([">", ">=", "<", "<="]), int(0..<50))
            return rng.next() % 2 == 0 ? "\(extreme) \(op) \(c)" : "\(c) \(op) \(extreme)"
        default: return "\(aggregate(numeric: true)) >= \(int(0..<4))"
        }
    }

    mutating func number(depth: Int) -> String {
        if depth > 0 && rng.next() % 3 == 0 {
            return "(\(number(depth: depth - 1)) \(pick(["+", "-", "*", "/"])) \(number(depth: depth - 1)))"
        }
        switch int(0..<14) {
        case 13: return aggregate(numeric: true)
        case 0: return "age"
        case 1: return "score"
        case 2: return String(int(0..<40))
        case 3: return "\(int(0..<20)).5"
        case 4: return "-\(pick(["age", "2"]))"
        case 5: return "count(\(pick(["ride", "open"]))\(filterIfRide())\(window()))"
        case 6: return "\(pick(["sum", "avg", "min", "max"]))(ride.\(pick(["cost", "n"]))\(filter())\(window()))"
        case 7: return "\(pick(["first", "last"]))(ride.\(pick(["cost", "n"]))\(filter())\(window()))"
        case 8: return "distinct(ride.\(pick(["car", "n", "cost"]))\(filter())\(window()))"
        case 9: return "avg_gap(\(pick(["ride", "open"]))\(window()))"
        case 10: return "\(int(1..<10))d"
        case 11: return "(now - signup)"
        default: return "(\(pick(["last", "first"]))(\(pick(["ride", "open"]))\(window())) - signup)"
        }
    }

    mutating func time() -> String {
        pick(["signup", "now", "now - \(int(0..<40))d", "last(ride)", "first(ride\(filter()))", "last(open, last 20d)", "signup + 10d"])
    }

    mutating func window() -> String {
        switch int(0..<4) {
        case 0: return ""
        case 1: return ", last \(int(0..<45))d"
        case 2: return ", from now - \(int(10..<70))d to now - \(int(0..<15))d"
        default: return ", from signup to signup + \(int(1..<40))d"
        }
    }

    mutating func filterIfRide() -> String { "" }

    /// Any aggregate call the compiler accepts: every function, with and without each
    /// property it takes, with every kind of window and filter. `numeric` leaves out the
    /// time- and string-valued `first`/`last`.
    mutating func aggregate(numeric: Bool) -> String {
        let function = pick(["count", "sum", "avg", "min", "max", "first", "last", "distinct", "avg_gap"])
        // first/last of an event are times: only where a time may stand (not `numeric`).
        let eventOnly = function == "avg_gap" || function == "count" || (!numeric && (function == "first" || function == "last"))
        let event = eventOnly ? pick(["ride", "open"]) : "ride"
        var property = ""
        if event == "ride" {
            switch function {
            case "sum", "avg", "min", "max": property = "." + pick(["cost", "n"])
            case "distinct": property = "." + pick(["cost", "n", "car"])
            case "count": property = pick(["", ".cost", ".n", ".car"])
            case "first", "last": property = pick([".cost", ".n"] + (numeric ? [] : ["", ".car"]))
            default: break
            }
        }
        let filter = event == "ride" ? filter() : pick(["", " where age > 20", " where not age > 20"])
        return "\(function)(\(event)\(property)\(filter)\(window()))"
    }

    mutating func filter() -> String {
        switch int(0..<14) {
        case 0: return " where cost > \(int(0..<50))"
        case 1: return " where car = \"\(pick(["a", "b", "c", "zz"]))\""
        case 2: return " where not n >= \(int(0..<5))"
        case 3: return " where cost is null or age > 20"
        case 4: return " where car != \"a\" and n < 4"
        case 5: return " where car in (\"\(pick(["a", "b"]))\", \"c\")"
        case 6: return " where car is \(pick(["", "not "]))null and n \(pick(["=", "!=", "<=", ">"])) \(int(0..<5))"
        case 7: return " where car \(pick(["<", ">=", "<=", ">"])) \"b\""
        case 8: return " where n in (\(int(0..<3)), \(int(2..<6))) or cost in (\(int(0..<50)).5, 10.5)"
        case 9: return " where cost >= \(int(0..<30)).5 and cost < \(int(20..<50)) and not n is null"
        case 10: return " where n = \(int(0..<3)).5 or n != \(int(0..<5)) and car = \"b\""
        case 11: return " where cost > n * 5"
        case 12: return " where cost \(pick(["=", ">=", "<"])) \(int(0..<50)).5"
        default: return ""
        }
    }
}

/// The reference interpreter: users as dictionaries, events as lists, DESIGN §3 read literally.
struct Reference {
    enum V: Equatable {
        case null
        case number(Double)
        case string(String)
        case bool(Bool)
        case tags(Set<String>)
    }

    struct Event {
        let name: String
        let time: Int64
        let properties: [String: V]
        let arrival: Int
    }

    let now: Int64
    var users: [String] = []
    var attributes: [String: [String: V]] = [:]
    var events: [String: [Event]] = [:]
    let declared: [String: Set<String>] = ["ride": ["cost", "car", "n"], "open": []]

    init(now: Int64) { self.now = now }

    mutating func add(_ user: String, _ name: String, _ time: Int64, _ properties: [String: V]) {
        if attributes[user] == nil {
            attributes[user] = [:]
            users.append(user)
        }
        events[user, default: []].append(Event(name: name, time: time, properties: properties, arrival: events.values.reduce(0) { $0 + $1.count }))
    }

    func test(_ p: BoolExpression, _ user: String, _ event: Event?) -> Bool {
        switch p {
        case .or(let ps): return ps.contains { test($0, user, event) }
        case .and(let ps): return ps.allSatisfy { test($0, user, event) }
        case .not(let q, _): return !test(q, user, event)
        case .compare(let l, let op, let r, _):
            if op == .notEqual { return !test(.compare(l, .equal, r, at: 0), user, event) }
            var a = value(l, user, event)
            var b = value(r, user, event)
            if case .number = a, case .string(let s) = b, case .string = r { b = TimeFormat.parse(s).map { .number(Double($0)) } ?? .null }
            if case .number = b, case .string(let s) = a, case .string = l { a = TimeFormat.parse(s).map { .number(Double($0)) } ?? .null }
            switch (a, b) {
            case (.number(let x), .number(let y)): return op.compare(x, y)
            case (.string(let x), .string(let y)): return op.compare(x, y)
            case (.bool(let x), .bool(let y)): return op == .equal && x == y
            default: return false
            }
        case .inList(let v, let literals, _):
            let a = value(v, user, event)
            return literals.contains { literal in
                switch (a, literal) {
                case (.number(let x), .number(let y)): return x == y
                case (.number(let x), .integer(let y)): return x == Double(y)
                case (.number(let x), .duration(let d)): return x == Double(d)
                case (.number(let x), .string(let s)): return TimeFormat.parse(s).map { Double($0) == x } ?? false
                case (.string(let x), .string(let y)): return x == y
                case (.bool(let x), .bool(let y)): return x == y
                default: return false
                }
            }
        case .isNull(let v, let negated, _):
            return (value(v, user, event) == .null) != negated
        case .has(let name, let tag, _):
            if case .tags(let t)? = attributes[user]?[name] { return t.contains(tag) }
            return false
        case .segment: return false
        case .truthy(let v): return value(v, user, event) == .bool(true)
        }
    }

    func value(_ v: ValueExpression, _ user: String, _ event: Event?) -> V {
        switch v {
        case .number(let x, _): return .number(x)
        case .integer(let x, _): return .number(Double(x))
        case .string(let s, _): return .string(s)
        case .duration(let d, _): return .number(Double(d))
        case .bool(let b, _): return .bool(b)
        case .now: return .number(Double(now))
        case .name(let name, _):
            if let event, declared[event.name]?.contains(name) == true { return event.properties[name] ?? .null }
            return attributes[user]?[name] ?? .null
        case .negate(let inner, _):
            if case .number(let x) = value(inner, user, event) { return .number(-x) }
            return .null
        case .binary(let op, let l, let r, _):
            guard case .number(let x) = value(l, user, event), case .number(let y) = value(r, user, event) else { return .null }
            switch op {
            case .add: return .number(x + y)
            case .subtract: return .number(x - y)
            case .multiply: return .number(x * y)
            case .divide: return y == 0 ? .null : .number(x / y)
            }
        case .aggregate(let call): return aggregate(call, user)
        }
    }

    func aggregate(_ call: AggregateCall, _ user: String) -> V {
        var lo = Double(Int64.min)
        var hi = Double(now)
        var strictUpper = false
        switch call.window {
        case nil: break
        case .last(let d):
            guard case .number(let seconds) = value(d, user, nil) else { return empty(call) }
            lo = Double(now) - seconds
        case .range(let a, let b):
            guard case .number(let x) = value(a, user, nil), case .number(let y) = value(b, user, nil) else { return empty(call) }
            lo = x
            if y <= hi {
                hi = y
                strictUpper = true
            }
        }
        let selected = (events[user] ?? [])
            .filter { $0.name == call.event && Double($0.time) >= lo && (strictUpper ? Double($0.time) < hi : Double($0.time) <= hi) && $0.time <= now }
            .filter { call.filter == nil || test(call.filter!, user, $0) }
            .sorted { ($0.time, $0.arrival) < ($1.time, $1.arrival) }
        let values = call.property.map { p in selected.map { $0.properties[p] ?? .null } } ?? []
        let numbers = values.compactMap { if case .number(let x) = $0 { x } else { nil } }
        switch call.function {
        case .count: return .number(Double(call.property == nil ? selected.count : values.filter { $0 != .null }.count))
        case .sum: return .number(numbers.reduce(0, +))
        case .avg: return numbers.isEmpty ? .null : .number(numbers.reduce(0, +) / Double(numbers.count))
        case .min: return numbers.min().map(V.number) ?? .null
        case .max: return numbers.max().map(V.number) ?? .null
        case .first: return call.property == nil ? (selected.first.map { .number(Double($0.time)) } ?? .null) : (values.first ?? .null)
        case .last: return call.property == nil ? (selected.last.map { .number(Double($0.time)) } ?? .null) : (values.last ?? .null)
        case .distinct:
            var seen: [V] = []
            for v in values where v != .null && !seen.contains(v) { seen.append(v) }
            return .number(Double(seen.count))
        case .avg_gap:
            guard selected.count >= 2 else { return .null }
            var gaps = 0.0
            for (a, b) in zip(selected, selected.dropFirst()) { gaps += Double(b.time - a.time) }
            return .number(gaps / Double(selected.count - 1))
        }
    }

    private func empty(_ call: AggregateCall) -> V {
        switch call.function {
        case .count, .sum, .distinct: .number(0)
        default: .null
        }
    }
}

extension Comparison {
    func compare<T: Comparable>(_ x: T, _ y: T) -> Bool {
        switch self {
        case .equal: x == y
        case .notEqual: x != y
        case .less: x < y
        case .lessOrEqual: x <= y
        case .greater: x > y
        case .greaterOrEqual: x >= y
        }
    }
}
