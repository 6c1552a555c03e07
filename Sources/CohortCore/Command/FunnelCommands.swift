/// `FUNNEL` and `FUNNEL.MEMBERS` (FEATURES §3.2): per-step counts of users whose level
/// reaches each step, and the users at one exact level.
enum FunnelCommands {
    static let all: [Command] = [
        Command("FUNNEL", arity: -4, .read(funnel)),
        Command("FUNNEL.MEMBERS", arity: -4, .read(members)),
    ]

    /// A parsed funnel request: the funnel, the group it counts and the options.
    struct Request {
        var funnel: Funnel
        var group: Bitmap
        var by: AttributeDefinition?
        var level: Int?
        var cursor: UInt32 = 0
        var count = 1000
        var evaluator: Evaluator
    }

    /// `numsteps step ... WITHIN d FROM a TO b [STRICT_INCREASE] [IN target] [BY attr]
    /// [LEVEL k] [CURSOR c] [COUNT n] [AT t]`; `members` says which options are allowed.
    static func parse(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment, members: Bool) throws(CohortError) -> Request {
        let usage =
            members
            ? "FUNNEL.MEMBERS numsteps step ... WITHIN duration FROM time TO time [STRICT_INCREASE] [IN target] LEVEL k [CURSOR c] [COUNT n] [AT time]"
            : "FUNNEL numsteps step ... WITHIN duration FROM time TO time [STRICT_INCREASE] [IN target] [BY attr] [AT time]"
        guard let n = Int(args[0]), (2...Funnel.maxSteps).contains(n) else {
            throw .err("numsteps must be an integer from 2 to \(Funnel.maxSteps), got '\(args[0])'")
        }
        guard args.count > n else { throw .syntax("expected \(n) steps, then WITHIN and FROM ... TO (\(usage))") }
        var window: Int64?
        var range: (Int64, Int64)?
        var strict = false
        var target: String?
        var byName: String?
        var level: Int?
        var cursor: UInt32 = 0
        var count = 1000
        var now = env.now
        var words = OptionWords(args, from: n + 1, usage: usage)
        while words.hasMore {
            switch words.keyword {
            case "WITHIN": window = try words.duration()
            case "FROM":
                let (a, b) = try words.range()
                guard a < b else { throw .err("FROM must be before TO") }
                range = (a, b)
            case "STRICT_INCREASE": strict = true
            case "IN": target = try words.value()
            case "BY" where !members: byName = try words.value()
            case "LEVEL" where members:
                let text = try words.value()
                guard let k = Int(text), (1...n).contains(k) else { throw .err("LEVEL must be an integer from 1 to \(n), got '\(text)'") }
                level = k
            case "CURSOR" where members: cursor = try words.cursor()
            case "COUNT" where members: count = try words.positiveCount(atMost: env.limits.pageSize)
            case "AT": now = try words.time()
            default: throw words.unexpected()
            }
            words.next()
        }
        guard let window else { throw .syntax("WITHIN duration is required (\(usage))") }
        guard let range else { throw .syntax("FROM time TO time is required (\(usage))") }
        if members, level == nil { throw .syntax("LEVEL k is required (\(usage))") }
        let evaluator = Evaluator(db: copy db, now: now)
        var steps: [Funnel.Step] = []
        for k in 1...n { steps.append(try step(args[k], number: k, evaluator, env)) }
        var by: AttributeDefinition?
        if let byName {
            guard let definition = evaluator.db.schema.attribute(named: byName) else {
                throw .err("unknown attribute '\(byName)' after BY (declare it with ATTR.DEFINE)")
            }
            guard definition.type != .tags else { throw .err("BY needs an int, float, bool, string or time attribute; '\(byName)' is tags") }
            by = definition
        }
        let live = evaluator.db.users.live
        var group = live
        if let target { group = evaluator.rows(try SegmentCommands.target(target, evaluator, env), within: live) }
        let funnel = Funnel(steps: steps, window: window, from: range.0, to: range.1, strictIncrease: strict)
        return Request(funnel: funnel, group: group, by: by, level: level, cursor: cursor, count: count, evaluator: evaluator)
    }

    /// A step's event filter word (`ride` or `ride where distance_km > 10`), bound and
    /// instantiated as the event argument of `count(...)` is: one rule for both.
    static func step(_ word: String, number: Int, _ evaluator: Evaluator, _ env: CommandEnvironment) throws(CohortError) -> Funnel.Step {
        let plan: ValuePlan
        do {
            (plan, _) = try SegmentCommands.value("count(\(word))", evaluator, env)
        } catch {
            throw .err("step \(number) '\(word)': \(error.message)")
        }
        guard case .aggregate(let a) = plan, a.function == .count, a.property == nil, case .all = a.window else {
            throw .err("step \(number) '\(word)': expected an event name, optionally with 'where ...'")
        }
        return Funnel.Step(table: a.table, filter: a.filter)
    }

    /// The levels of the group members that may have a step-1 event in the entry range
    /// (`Funnel.possibleStarters`), ascending, computed in parallel; every other member
    /// is at level 0.
    static func levels(_ request: Request) -> (rows: ContiguousArray<UInt32>, levels: [UInt8]) {
        let (funnel, evaluator) = (request.funnel, request.evaluator)
        let starters = request.group.intersection(funnel.possibleStarters(evaluator)).toArray()
        let readers = funnel.readers(evaluator)
        let parts = parallelChunks(starters) { funnel.levels(of: $0, readers, evaluator) }
        return (starters, Array(parts.joined()))
    }

    /// Step rows `[users, rate_from_first, rate_from_previous]` from users per exact level.
    static func stepRows(_ exact: [Int]) -> Reply {
        let n = exact.count - 1
        var reached = [Int](repeating: 0, count: n + 2)
        for k in stride(from: n, through: 1, by: -1) { reached[k] = reached[k + 1] + exact[k] }
        func rate(_ a: Int, _ b: Int) -> Reply { b == 0 ? .null : .double(Double(a) / Double(b)) }
        return .array(
            (1...n).map { k in
                .array([.integer(Int64(reached[k])), rate(reached[k], reached[1]), rate(reached[k], reached[max(1, k - 1)])])
            })
    }

    static func funnel(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let request = try parse(db, args, env, members: false)
        let n = request.funnel.steps.count
        let (rows, levels) = levels(request)
        guard let by = request.by else {
            var exact = [Int](repeating: 0, count: n + 1)
            for level in levels { exact[Int(level)] += 1 }
            return stepRows(exact)
        }
        // BY: only values among users with level >= 1, ascending, null last.
        var groups: [GroupKey: [Int]] = [:]
        let attributes = request.evaluator.db.attributes
        for (row, level) in zip(rows, levels) where level > 0 {
            let key = GroupKey(attributes.value(by, row: row))
            groups[key, default: [Int](repeating: 0, count: n + 1)][Int(level)] += 1
        }
        return .array(groups.keys.sorted().map { key in .array([key.reply, stepRows(groups[key]!)]) })
    }

    static func members(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        var request = try parse(db, args, env, members: true)
        let level = UInt8(request.level!)
        // The cursor is the row to resume from; 0 starts and, returned, ends.
        if request.cursor > 0 { request.group = request.group.intersection(Bitmap(range: request.cursor..<UInt32.max)) }
        let (rows, levels) = levels(request)
        var page: [UInt32] = []
        var next: UInt32 = 0
        for (row, l) in zip(rows, levels) where l == level {
            if page.count == request.count {
                next = row
                break
            }
            page.append(row)
        }
        let users = request.evaluator.db.users
        return .array([.bulk(String(next)), .array(page.map { .bulk(users.id(of: $0)) })])
    }
}

/// A `BY` group's attribute value, ordered as FEATURES §3.3 says: numbers numerically,
/// strings bytewise, `false < true`, times chronologically, null last.
private enum GroupKey: Hashable, Comparable {
    case number(Double)
    case integer(Int64)
    case time(Int64)
    case bool(Bool)
    case string(String)
    case null

    init(_ value: Value) {
        switch value {
        case .int(let v): self = .integer(v)
        case .float(let v): self = .number(v)
        case .time(let v): self = .time(v)
        case .bool(let v): self = .bool(v)
        case .string(let v): self = .string(v)
        case .null, .tags: self = .null
        }
    }

    /// One attribute has one type, so keys of two cases meet only with null.
    static func < (a: GroupKey, b: GroupKey) -> Bool {
        switch (a, b) {
        case (.null, _): false
        case (_, .null): true
        case (.number(let x), .number(let y)): x < y
        case (.integer(let x), .integer(let y)), (.time(let x), .time(let y)): x < y
        case (.bool(let x), .bool(let y)): !x && y
        case (.string(let x), .string(let y)): x.utf8.lexicographicallyPrecedes(y.utf8)
        default: false
        }
    }

    var reply: Reply {
        switch self {
        case .number(let v): .double(v)
        case .integer(let v): .integer(v)
        case .time(let v): .bulk(TimeFormat.format(v))
        case .bool(let v): .bool(v)
        case .string(let v): .bulk(v)
        case .null: .null
        }
    }
}
