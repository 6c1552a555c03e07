/// The segment and aggregate commands of DESIGN §4.
///
/// A `target` is the name of a defined segment when one has that name, else an
/// expression. Evaluations take an optional trailing `AT time`, else the engine's now.
enum SegmentCommands {
    static let all: [Command] = [
        Command("SEGMENT.DEFINE", arity: 3, flags: .definition, .write(define)),
        Command("SEGMENT.DROP", arity: 2, flags: [.definition, .frees], .write(drop)),
        Command("SEGMENT.LIST", arity: 1, .read(list)),
        Command("SEGMENT.COUNT", arity: -2, .read(count)),
        Command("SEGMENT.MEMBERS", arity: -2, .read(members)),
        Command("SEGMENT.CHECK", arity: -3, flags: .fast, .read(check)),
        Command("SEGMENT.REFRESH", arity: -2, .write(refresh)),
        Command("SEGMENT.OVERLAP", arity: -3, .read(overlap)),
        Command("AGG.DEFINE", arity: 3, flags: .definition, .write(aggregateDefine)),
        Command("AGG.GET", arity: -3, flags: .fast, .read(aggregateGet)),
        Command("AGG.STATS", arity: -2, .read(aggregateStats)),
    ]

    // MARK: Definitions

    static func define(_ db: inout Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> WriteResult {
        try db.defineSegment(args[0], source: args[1], limits: env.limits)
        return WriteResult(.ok, journal: args.journal)
    }

    static func drop(_ db: inout Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> WriteResult {
        let dropped = try db.dropSegment(args[0])
        return WriteResult(.integer(dropped ? 1 : 0), journal: dropped ? args.journal : nil)
    }

    static func list(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        .array(db.catalog.segments.values.sorted { $0.name < $1.name }.map { .array([.bulk($0.name), .bulk($0.source)]) })
    }

    static func aggregateDefine(_ db: inout Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> WriteResult {
        try db.defineAggregate(args[0], source: args[1], limits: env.limits)
        return WriteResult(.ok, journal: args.journal)
    }

    // MARK: Evaluation

    static func count(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let (words, now) = try takeAt(args, env)
        guard words.count == 1 else { throw .wrongArity(args.command) }
        let evaluator = Evaluator(db: copy db, now: now)
        return .integer(Int64(evaluator.rows(try target(words[0], evaluator, env), within: evaluator.db.users.live).count))
    }

    static func members(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        var cursor: UInt32 = 0
        var limit = 1000
        var now = env.now
        var words = OptionWords(args, from: 1, usage: nil)
        while words.hasMore {
            switch words.keyword {
            case "CURSOR": cursor = try words.cursor()
            case "COUNT": limit = try words.positiveCount(atMost: env.limits.pageSize)
            case "AT": now = try words.time()
            default: throw .syntax("unknown option '\(args[words.index])' (use CURSOR, COUNT or AT)")
            }
            words.next()
        }
        let evaluator = Evaluator(db: copy db, now: now)
        let members = evaluator.rows(try target(args[0], evaluator, env), within: evaluator.db.users.live)
        // The cursor is the row to resume from; 0 starts and, returned, ends.
        let page = members.values(from: cursor, limit: limit)
        var next: UInt32 = 0
        if let last = page.last, last < UInt32.max, members.count(in: (last + 1)..<UInt32.max) > 0 { next = last + 1 }
        return .array([.bulk(String(next)), .array(page.map { .bulk(evaluator.db.users.id(of: $0)) })])
    }

    static func check(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let (words, now) = try takeAt(args, env)
        guard words.count == 2 else { throw .wrongArity(args.command) }
        let evaluator = Evaluator(db: copy db, now: now)
        let plan = try target(words[0], evaluator, env)
        guard let row = evaluator.db.users.row(of: words[1]) else { return .integer(0) }
        return .integer(evaluator.test(plan, row, nil) ? 1 : 0)
    }

    static func refresh(_ db: inout Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> WriteResult {
        let (words, now) = try takeAt(args, env)
        guard words.count == 1 else { throw .wrongArity(args.command) }
        let name = words[0]
        guard db.catalog.segments[name] != nil else { throw .err("unknown segment '\(name)' (SEGMENT.REFRESH takes a defined segment)") }
        let evaluator = Evaluator(db: db, now: now)
        let members = evaluator.rows(try target(name, evaluator, env), within: db.users.live)
        let previous = db.memberships[name] ?? Bitmap()
        let entered = members.subtracting(previous).count
        let exited = previous.subtracting(members).count
        db.setMembership(name, members)
        return WriteResult(
            .array([.integer(Int64(members.count)), .integer(Int64(entered)), .integer(Int64(exited))]),
            journal: [args.command, name, "AT", String(now)])
    }

    static func overlap(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let (words, now) = try takeAt(args, env)
        guard words.count >= 2 else { throw .wrongArity(args.command) }
        try Limits.check(words.count, env.limits.overlapTargets, "SEGMENT.OVERLAP targets", option: "--max-overlap-targets")
        let evaluator = Evaluator(db: copy db, now: now)
        var sets: [Bitmap] = []
        for word in words { sets.append(evaluator.rows(try target(word, evaluator, env), within: evaluator.db.users.live)) }
        return .array(sets.map { a in .array(sets.map { b in .integer(Int64(a.intersectionCount(b))) }) })
    }

    static func aggregateGet(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let (words, now) = try takeAt(args, env)
        guard words.count >= 2 else { throw .wrongArity(args.command) }
        try Limits.check(words.count - 1, env.limits.valuesPerRequest, "AGG.GET values", option: "--max-values-per-request")
        let evaluator = Evaluator(db: copy db, now: now)
        var plans: [(ValuePlan, ValueType)] = []
        for word in words.dropFirst() { plans.append(try value(word, evaluator, env)) }
        guard let row = evaluator.db.users.row(of: words[0]) else { return .array(plans.map { _ in .null }) }
        return .array(plans.map { plan, type in render(evaluator, plan, type, row) })
    }

    static func aggregateStats(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let (words, now) = try takeAt(args, env)
        guard words.count == 1 || (words.count == 3 && words[1].uppercased() == "IN") else {
            throw .syntax("expected AGG.STATS value-expr [IN target] [AT time]")
        }
        let evaluator = Evaluator(db: copy db, now: now)
        let (plan, type) = try value(words[0], evaluator, env)
        guard type != .string else { throw .err("AGG.STATS needs a numeric, time or bool value, got string") }
        let group = words.count == 3 ? evaluator.rows(try target(words[2], evaluator, env), within: evaluator.db.users.live) : evaluator.db.users.live
        return .array(stats(plan, type, over: group, evaluator))
    }

    /// `[users, n, sum, min, max, avg]` of `plan` over `group` (AGG.STATS's reply; one
    /// SERIES.STATS row per bucket).
    static func stats(_ plan: ValuePlan, _ type: ValueType, over group: Bitmap, _ evaluator: Evaluator) -> [Reply] {
        let rows = group.toArray()
        let n: Int
        let sum: Reply, min: Reply, max: Reply, avg: Reply
        if type == .int, case let exact = Statistics<Int64>.collect(rows, { evaluator.numbers(plan, $0, into: $1) }), !exact.sum.isNull || exact.count == 0 {
            // Ints exactly (DESIGN: int is Int64); a sum past Int64 falls to the Double path.
            n = exact.count
            (sum, min, max) = (.integer(exact.sum), .integer(exact.min), .integer(exact.max))
            avg = .double(Double(exact.sum) / Double(n))
        } else {
            let stats = Statistics<Double>.collect(rows) { evaluator.numbers(plan, $0, into: $1) }
            func render(_ x: Double) -> Reply {
                switch type {
                case .bool: .integer(Int64(x))
                case .time: .bulk(TimeFormat.format(Int64(x.rounded(.down))))
                default: .double(x)
                }
            }
            n = stats.count
            sum = type == .time ? .double(stats.sum) : render(stats.sum)
            (min, max) = (render(stats.min), render(stats.max))
            avg = type == .time ? render(stats.sum / Double(n)) : .double(stats.sum / Double(n))
        }
        return [.integer(Int64(group.count)), .integer(Int64(n))] + (n == 0 ? [.null, .null, .null, .null] : [sum, min, max, avg])
    }

    // MARK: Helpers

    /// Removes a trailing `AT time`, returning the other words and the evaluation time.
    static func takeAt(_ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> (Arguments, Int64) {
        let n = args.count
        if n >= 2, args[n - 2].equalsIgnoringASCIICase("AT") { return (args.prefix(n - 2), try time(args[n - 1])) }
        return (args, env.now)
    }

    static func time(_ text: String) throws(CohortError) -> Int64 { try OptionWords.time(text, after: "AT") }

    /// The one way every read command resolves a target: a defined segment's bound plan
    /// when one has that name, else the text parsed and bound once per catalog version
    /// (`PlanCache`); then instantiated against the state the evaluator reads.
    /// `names`: the time-valued names the text may use (`bucket_start` in `SERIES.*`,
    /// `assigned_at` in `SPLIT.REPORT`), cached apart from the same text without them.
    static func target(_ text: String, _ evaluator: Evaluator, _ env: CommandEnvironment, names: Binder.ExtraNames = []) throws(CohortError) -> BoolPlan {
        let db = evaluator.db
        let bound: BoolPlan
        if let definition = db.catalog.segments[text] {
            bound = .segment(name: text, definition.plan)
        } else {
            bound = try env.plans.predicate(cacheKey(text, names), version: db.catalog.version) { () throws(CohortError) in
                let predicate = try Parser.predicate(text, limits: env.limits)
                try db.catalog.shape(of: predicate).check(env.limits, "the expression")
                var binder = Binder(db)
                binder.names = names
                return try binder.predicate(predicate)
            }
        }
        return bound.instantiated(in: db)
    }

    /// The plan cache key of a text bound with extra names: a prefix no text has (a NUL).
    static func cacheKey(_ text: String, _ names: Binder.ExtraNames) -> String { names.isEmpty ? text : "\u{0}\(names.rawValue)\u{0}" + text }

    /// A named aggregate's bound plan, else a value expression bound once per catalog
    /// version; instantiated like `target`.
    static func value(
        _ text: String, _ evaluator: Evaluator, _ env: CommandEnvironment, names: Binder.ExtraNames = []
    ) throws(CohortError) -> (ValuePlan, ValueType) {
        let db = evaluator.db
        let (plan, type): (ValuePlan, ValueType)
        if let definition = db.catalog.aggregates[text] {
            (plan, type) = (definition.plan, definition.type)
        } else {
            (plan, type) = try env.plans.value(cacheKey(text, names), version: db.catalog.version) { () throws(CohortError) in
                let value = try Parser.value(text, limits: env.limits)
                try db.catalog.shape(of: value).check(env.limits, "the expression")
                var binder = Binder(db)
                binder.names = names
                return try binder.value(value)
            }
        }
        return (plan.instantiated(in: db), type)
    }

    /// A value in a reply (DESIGN §4): ints and bools as integers, floats and durations
    /// as doubles, times as ISO-8601, strings as bulk, null as nil.
    static func render(_ evaluator: Evaluator, _ plan: ValuePlan, _ type: ValueType, _ row: UInt32) -> Reply {
        if type == .string { return evaluator.string(plan, row, nil).map(Reply.bulk) ?? .null }
        if type == .int {
            let x = evaluator.integer(plan, row, nil)
            return x.isNull ? .null : .integer(x)
        }
        let x = evaluator.number(plan, row, nil)
        if x.isNaN { return .null }
        switch type {
        case .bool: return .bool(x == 1)
        case .time: return .bulk(TimeFormat.format(Int64(x.rounded(.down))))
        default: return .double(x)
        }
    }
}
