import Foundation

/// `SPLIT.*` (FEATURES §2.2): A/B holdout splits of watched segments, their arms,
/// assignments and the two-proportion report.
enum SplitCommands {
    static let all: [Command] = [
        Command("SPLIT.DEFINE", arity: -6, .write(define)),
        Command("SPLIT.DROP", arity: 2, flags: .frees, .write(drop)),
        Command("SPLIT.LIST", arity: 1, .read(list)),
        Command("SPLIT.ARM", arity: 3, .read(arm)),
        Command("SPLIT.COUNT", arity: -2, .read(count)),
        Command("SPLIT.MEMBERS", arity: -3, .read(members)),
        Command("SPLIT.REPORT", arity: -4, .read(report)),
    ]

    // MARK: Definitions

    /// `SPLIT.DEFINE name segment ARMS arm pct [arm pct ...] [SEED seed]`: starts at the
    /// engine time; the segment becomes watched if it is not; its members then are
    /// assigned at once.
    static func define(_ db: inout Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> WriteResult {
        let usage = "SPLIT.DEFINE name segment ARMS arm pct [arm pct ...] [SEED seed]"
        let (name, segment) = (args[0], args[1])
        guard Schema.isIdentifier(name) else { throw .err("invalid split name '\(name)': use letters, digits and _") }
        guard db.feed.split(named: name) == nil else { throw .err("split '\(name)' exists; splits are immutable (SPLIT.DROP it first)") }
        guard args[2].uppercased() == "ARMS" else { throw .syntax("expected ARMS after the segment (\(usage))") }
        var arms: [Split.Arm] = []
        var seed = name
        var i = 3
        while i < args.count {
            if args[i].uppercased() == "SEED" {
                guard i + 2 == args.count else { throw .syntax("SEED seed comes last (\(usage))") }
                seed = args[i + 1]
                guard (1...256).contains(seed.utf8.count), !seed.utf8.contains(0) else { throw .err("SEED must be 1 to 256 bytes without NUL") }
                break
            }
            guard i + 1 < args.count else { throw .syntax("arm '\(args[i])' needs a percentage (\(usage))") }
            let arm = args[i]
            guard Schema.isIdentifier(arm) else { throw .err("invalid arm name '\(arm)': use letters, digits and _") }
            guard !arms.contains(where: { $0.name == arm }) else { throw .err("arm '\(arm)' appears twice") }
            guard let bp = basisPoints(args[i + 1]) else {
                throw .err("arm '\(arm)': percentage must be a decimal with at most two fractional digits, above 0 and at most 100, got '\(args[i + 1])'")
            }
            arms.append(Split.Arm(name: arm, basisPoints: bp))
            i += 2
        }
        guard !arms.isEmpty else { throw .syntax("at least one arm (\(usage))") }
        let total = arms.reduce(0) { $0 + $1.basisPoints }
        guard total <= Split.buckets else { throw .err("the arms add up to \(Double(total) / 100)%, more than 100") }
        guard db.catalog.segments[segment] != nil else { throw .err("unknown segment '\(segment)' (SPLIT.DEFINE takes a defined segment)") }
        if !db.feed.isWatched(segment) { _ = try db.watch(segment, maxLength: nil, maxAge: nil, backfill: false, now: env.now) }
        db.defineSplit(Split(name: name, seed: seed, startedAt: env.now, arms: arms), of: segment)
        return WriteResult(.ok, journal: args.journal)
    }

    /// A percentage with at most two fractional digits as basis points, `0 < bp <= 10000`.
    static func basisPoints(_ text: String) -> Int? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = Int(parts[0]), whole >= 0, parts[0].allSatisfy(\.isASCII) else { return nil }
        var fraction = 0
        if parts.count == 2 {
            guard (1...2).contains(parts[1].count), parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let f = Int(parts[1]) else { return nil }
            fraction = parts[1].count == 1 ? f * 10 : f
        }
        let bp = whole * 100 + fraction
        return bp > 0 && bp <= Split.buckets ? bp : nil
    }

    static func drop(_ db: inout Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> WriteResult {
        let dropped = db.dropSplit(args[0])
        return WriteResult(.integer(dropped ? 1 : 0), journal: dropped ? args.journal : nil)
    }

    static func list(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let rows = db.feed.list.flatMap { watch in watch.splits.map { (watch.name, $0) } }.sorted { $0.1.name.utf8.lexicographicallyPrecedes($1.1.name.utf8) }
        return .array(
            rows.map { segment, split in
                .array([
                    .bulk(split.name), .bulk(segment), .bulk(split.seed), .bulk(TimeFormat.format(split.startedAt)),
                    .array(split.arms.flatMap { [.bulk($0.name), .double(Double($0.basisPoints) / 100)] }),
                ])
            })
    }

    // MARK: Reads

    static func split(_ db: borrowing Database, _ name: String) throws(CohortError) -> Split {
        guard let (w, s) = db.feed.split(named: name) else { throw .err("unknown split '\(name)'") }
        return db.feed.list[w].splits[s]
    }

    /// `AT` of a split read: not after the engine time (assignments after it are unknown).
    static func at(_ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> (Arguments, Int64) {
        let (words, now) = try SegmentCommands.takeAt(args, env)
        guard now <= env.now else { throw .err("AT is after the engine time; assignments after it are not known yet") }
        return (words, now)
    }

    static func arm(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let split = try split(db, args[0])
        let bucket = Split.bucket(seed: split.seed, user: args[1])
        let arm = split.arm(ofBucket: bucket).map { Reply.bulk(split.arms[$0].name) } ?? .null
        let assigned = db.users.row(of: args[1]).flatMap { split.assignment(of: $0) }
        return .array([arm, .integer(Int64(bucket)), assigned.map { .bulk(TimeFormat.format($0)) } ?? .null])
    }

    /// The rows of arm `i` assigned at or before `now`.
    static func assigned(_ split: Split, _ i: Int, now: Int64) -> [UInt32] {
        split.members[i].toArray().filter { split.assignment(of: $0)! <= now }
    }

    static func count(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let (words, now) = try at(args, env)
        guard words.count == 1 else { throw .wrongArity(args.command) }
        let split = try split(db, words[0])
        return .array(split.arms.indices.map { .array([.bulk(split.arms[$0].name), .integer(Int64(assigned(split, $0, now: now).count))]) })
    }

    /// `SPLIT.MEMBERS name arm [CURSOR c] [COUNT n] [AT time]`.
    static func members(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let (words, now) = try at(args, env)
        guard words.count >= 2 else { throw .wrongArity(args.command) }
        let split = try split(db, words[0])
        guard let i = split.arms.firstIndex(where: { $0.name == words[1] }) else { throw .err("split '\(split.name)' has no arm '\(words[1])'") }
        var cursor: UInt32 = 0
        var limit = 1000
        var options = OptionWords(words, from: 2, usage: nil)
        while options.hasMore {
            switch options.keyword {
            case "CURSOR": cursor = try options.cursor()
            case "COUNT": limit = try options.positiveCount(atMost: env.limits.pageSize)
            default: throw .syntax("unknown option '\(words[options.index])' (use CURSOR, COUNT or AT)")
            }
            options.next()
        }
        let rows = assigned(split, i, now: now).filter { $0 >= cursor }
        let page = rows.prefix(limit)
        let next = rows.count > limit ? rows[limit] : 0
        return .array([.bulk(String(next)), .array(page.map { .bulk(db.users.id(of: $0)) })])
    }

    // MARK: Report

    /// `SPLIT.REPORT name CONVERT EVENT filter [WITHIN d [MATURE]] [ALPHA a] [AT t]` or
    /// `SPLIT.REPORT name CONVERT EXPR expr [ALPHA a] [AT t]`: one row per arm (§2.3.5).
    static func report(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let usage = "SPLIT.REPORT name CONVERT EVENT filter [WITHIN duration [MATURE]] [ALPHA a] [AT time] | CONVERT EXPR expr [ALPHA a] [AT time]"
        let (words, now) = try at(args, env)
        let split = try split(db, words[0])
        guard words.count >= 4, words[1].uppercased() == "CONVERT" else { throw .syntax(usage) }
        let byEvent: Bool
        switch words[2].uppercased() {
        case "EVENT": byEvent = true
        case "EXPR": byEvent = false
        default: throw .syntax(usage)
        }
        let conversion = words[3]
        var within: Int64?
        var mature = false
        var z = 1.959963984540054
        var options = OptionWords(words, from: 4, usage: usage)
        while options.hasMore {
            switch options.keyword {
            case "WITHIN" where byEvent: within = try options.duration()
            case "MATURE" where byEvent: mature = true
            case "ALPHA":
                let text = try options.value()
                switch text {
                case "0.10", "0.1": z = 1.6448536269514722
                case "0.05": z = 1.959963984540054
                case "0.01": z = 2.5758293035489004
                default: throw .err("ALPHA must be 0.10, 0.05 or 0.01, got '\(text)'")
                }
            default: throw options.unexpected()
            }
            options.next()
        }
        if mature, within == nil { throw .err("MATURE needs WITHIN duration") }
        let (window, onlyMature) = (within, mature)
        var evaluator = Evaluator(db: copy db, now: now)
        evaluator.assignments = split
        // Whether `row`, assigned at the given time, converted; `events` is a scratch buffer.
        typealias Converts = @Sendable (UInt32, Int64, inout [(position: Int, time: UInt32)]) -> Bool
        let converts: Converts
        // The rows that may convert: for an event, those with one of its type after the
        // split started (all assignments are at or after it), by the activity index and
        // the delta users; every other assigned row counts as not converted unread.
        var possible: Bitmap?
        if byEvent {
            let step = try FunnelCommands.step(conversion, number: 1, evaluator, env)
            let table = evaluator.db.events.tables[step.table]
            possible = table.rowsWithEvents(from: split.startedAt + 1, through: now)
            let e = evaluator
            converts = { row, assignedAt, events in
                if step.filter == nil {
                    let (lo, hi) = (assignedAt + 1, min(now, window.map { assignedAt + $0 } ?? now))
                    guard lo <= hi, hi >= 0, lo <= Int64(UInt32.max) else { return false }
                    return table.containsEvent(of: row, in: UInt32(clamping: max(0, lo))...UInt32(clamping: hi))
                }
                events.removeAll(keepingCapacity: true)
                table.appendEvents(of: row, from: assignedAt + 1, through: min(now, window.map { assignedAt + $0 } ?? now), into: &events)
                return events.contains { e.test(step.filter!, row, EventRef(table: step.table, position: $0.position)) }
            }
        } else {
            let plan = try SegmentCommands.target(conversion, evaluator, env, names: .assignedAt)
            let e = evaluator
            converts = { row, _, _ in e.test(plan, row, nil) }
        }
        // Per arm, its assigned users in parallel chunks (the sums do not depend on the
        // order): those counted, and among them those converted, asked only of the rows
        // that may convert.
        @Sendable func counted(_ row: UInt32) -> Int64? {
            let t = split.assignment(of: row)!
            return t <= now && (!onlyMature || t + window! <= now) ? t : nil
        }
        let counts: [(n: Int, x: Int)] = split.arms.indices.map { i in
            let n = parallelChunks(split.members[i].toArray()) { rows in rows.reduce(0) { $0 + (counted($1) == nil ? 0 : 1) } }.reduce(0, +)
            let asked = possible.map { split.members[i].intersection($0) } ?? split.members[i]
            let x = parallelChunks(asked.toArray()) { rows -> Int in
                var events: [(position: Int, time: UInt32)] = []
                return rows.reduce(0) { x, row in
                    guard let t = counted(row) else { return x }
                    return converts(row, t, &events) ? x + 1 : x
                }
            }.reduce(0, +)
            return (n, x)
        }
        return .array(split.arms.indices.map { i in .array([.bulk(split.arms[i].name)] + reportFields(counts[i], baseline: counts[0], isBaseline: i == 0, z: z)) })
    }

    /// `[assigned, converted, rate, lift, diff, ci_low, ci_high, z, p_value]`, computed in
    /// IEEE-754 double in exactly the order of FEATURES §2.3.5.
    static func reportFields(_ arm: (n: Int, x: Int), baseline c: (n: Int, x: Int), isBaseline: Bool, z zAlpha: Double) -> [Reply] {
        let rate: Double? = arm.n == 0 ? nil : Double(arm.x) / Double(arm.n)
        var fields: [Reply] = [.integer(Int64(arm.n)), .integer(Int64(arm.x)), rate.map(Reply.double) ?? .null]
        guard !isBaseline, let rateI = rate, c.n > 0 else { return fields + Array(repeating: .null, count: 6) }
        let rateC = Double(c.x) / Double(c.n)
        let diff = rateI - rateC
        let lift: Double? = rateC == 0 ? nil : diff / rateC
        let pooled = Double(arm.x + c.x) / Double(arm.n + c.n)
        let se0 = (pooled * (1 - pooled) * (1 / Double(arm.n) + 1 / Double(c.n))).squareRoot()
        let z: Double? = se0 == 0 ? nil : diff / se0
        let p: Double? = z.map { erfc(abs($0) / 2.0.squareRoot()) }
        let se1 = (rateI * (1 - rateI) / Double(arm.n) + rateC * (1 - rateC) / Double(c.n)).squareRoot()
        fields += [lift.map(Reply.double) ?? .null, .double(diff), .double(diff - zAlpha * se1), .double(diff + zAlpha * se1)]
        return fields + [z.map(Reply.double) ?? .null, p.map(Reply.double) ?? .null]
    }
}
