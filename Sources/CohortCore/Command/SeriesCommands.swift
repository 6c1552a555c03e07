/// `SERIES.COUNT` and `SERIES.EVENTS` (FEATURES §4.2): rows `[bucket_start, value,
/// complete]`, one per bucket, each evaluated at its own `now_b = min(end_b - 1, now)`.
enum SeriesCommands {
    static let all: [Command] = [
        Command("SERIES.COUNT", arity: -5, .read(count)),
        Command("SERIES.EVENTS", arity: -5, .read(events)),
        Command("SERIES.STATS", arity: -5, .read(stats)),
    ]

    /// The options after the first word: `BY unit`, the range, `OFFSET`, the group and `AT`.
    struct Options {
        var buckets: [Buckets.Bucket] = []
        var now: Int64
        var within: (target: String, perBucket: Bool)?
        var recorded = false
    }

    /// `groups`: `IN`/`COHORT` are allowed; `recorded`: `RECORDED` is.
    static func options(
        _ args: Arguments, _ env: CommandEnvironment, groups: Bool, recorded: Bool = false, usage: String
    ) throws(CohortError) -> Options {
        var unit: Buckets.Unit?
        var from: (Int64, Int64)?
        var last: Int?
        var offset: Int64 = 0
        var within: (String, Bool)?
        var isRecorded = false
        var now = env.now
        var words = OptionWords(args, from: 1, usage: usage)
        while words.hasMore {
            switch words.keyword {
            case "BY":
                let text = try words.value()
                guard let u = Buckets.Unit(rawValue: text.lowercased()) else { throw .err("BY needs hour, day, week or month, got '\(text)'") }
                unit = u
            case "FROM":
                let (a, b) = try words.range()
                guard a < b else { throw .err("FROM must be before TO") }
                from = (a, b)
            case "LAST":
                let text = try words.value()
                guard let n = Int(text), n > 0 else { throw .err("LAST needs a positive number of buckets, got '\(text)'") }
                last = n
            case "OFFSET":
                let text = try words.value()
                guard let o = Buckets.offset(text) else { throw .err("OFFSET needs ±HH:MM (as +02:00), got '\(text)'") }
                offset = o
            case "IN" where groups: within = (try words.value(), true)
            case "COHORT" where groups: within = (try words.value(), false)
            case "RECORDED" where recorded: isRecorded = true
            case "AT": now = try words.time()
            default: throw words.unexpected()
            }
            words.next()
        }
        guard let unit else { throw .syntax("BY unit is required (\(usage))") }
        guard (from == nil) != (last == nil) else { throw .syntax("give one range: FROM time TO time, or LAST n (\(usage))") }
        let buckets = Buckets(unit: unit, offset: offset)
        var options = Options(now: now, within: within, recorded: isRecorded)
        if let (a, b) = from {
            options.buckets = try buckets.range(from: a, last: b - 1, now: now)
        } else {
            options.buckets = try buckets.last(last!, now: now)
        }
        return options
    }

    static func row(_ bucket: Buckets.Bucket, _ value: Reply, now: Int64) -> Reply {
        .array([.bulk(TimeFormat.format(bucket.start)), value, .bool(bucket.complete(now))])
    }

    /// `SERIES.COUNT target BY unit range [OFFSET ±HH:MM] [RECORDED] [AT time]`: the
    /// target's size at each bucket's `now_b`, recomputed from the current data, or with
    /// `RECORDED` the recorded membership of a watched segment then.
    static func count(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let usage = "SERIES.COUNT target BY unit FROM time TO time | LAST n [OFFSET ±HH:MM] [RECORDED] [AT time]"
        let options = try self.options(args, env, groups: false, recorded: true, usage: usage)
        if options.recorded { return try recordedCount(db, args[0], options, env) }
        let database = copy db
        let plan = try SegmentCommands.target(args[0], Evaluator(db: database, now: options.now), env, names: .bucket)
        if let shared = CountSeries(plan), let first = options.buckets.first {
            // A count-threshold segment: one pass over the users for every bucket.
            let counts = shared.counts(options.buckets.map { $0.now(options.now) }, database, evaluator: bucketEvaluator(database, first, now: options.now))
            return .array(zip(options.buckets, counts).map { row($0, .integer(Int64($1)), now: options.now) })
        }
        var rows: [Reply] = []
        for bucket in options.buckets {
            let evaluator = bucketEvaluator(database, bucket, now: options.now)
            rows.append(row(bucket, .integer(Int64(evaluator.rows(plan, within: database.users.live).count)), now: options.now))
        }
        return .array(rows)
    }

    /// `RECORDED`: the recorded membership `M` after every entry with `at <= now_b`,
    /// bucket by bucket from the last: today's `M` with the stream's later entries undone
    /// (FEATURES §4.3). Deleted users count nowhere (only live rows are undone); buckets
    /// before the watch started are nil. O(entries after the first bucket + buckets × M).
    static func recordedCount(_ db: borrowing Database, _ name: String, _ options: Options, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        guard let watch = db.feed[name] else { throw .err("RECORDED needs a watched segment; '\(name)' is not watched (SEGMENT.WATCH it)") }
        guard options.now <= env.now else {
            throw .err("RECORDED cannot answer after the engine time \(TimeFormat.format(env.now)): AT \(TimeFormat.format(options.now)) is later")
        }
        guard let first = options.buckets.first else { return .array([]) }
        let firstNow = first.now(options.now)
        let trimmed = Int64(watch.stream.trimmedUpTo.ms / 1000)
        if watch.stream.trimmedUpTo != .zero, trimmed > firstNow {
            throw .err(
                "history of '\(name)' is trimmed up to \(TimeFormat.format(trimmed)); RECORDED needs it from \(TimeFormat.format(firstNow)) (raise MAXLEN or MAXAGE)")
        }
        let entries = watch.stream.entries(from: .zero, through: StreamID(ms: .max, seq: .max))
        var members = watch.members
        var k = entries.count
        var counts: [Reply] = []
        for bucket in options.buckets.reversed() {
            let at = bucket.now(options.now)
            while k > 0, entries[k - 1].at > at {
                k -= 1
                let e = entries[k]
                guard db.users.isLive(e.row) else { continue }
                if e.change == .entered { members.remove(e.row) } else { members.insert(e.row) }
            }
            counts.append(at < watch.since ? .null : .integer(Int64(members.count)))
        }
        return .array(zip(options.buckets, counts.reversed()).map { row($0, $1, now: options.now) })
    }

    /// `SERIES.EVENTS fn(event[.prop] [where expr]) BY unit range [IN target | COHORT
    /// target] [OFFSET ±HH:MM] [AT time]`.
    static func events(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let usage = "SERIES.EVENTS fn(event[.prop] [where expr]) BY unit FROM time TO time | LAST n [IN target | COHORT target] [OFFSET ±HH:MM] [AT time]"
        let options = try self.options(args, env, groups: true, usage: usage)
        let database = copy db
        let evaluator = Evaluator(db: database, now: options.now)
        let series = try eventSeries(args[0], evaluator, env)
        let live = database.users.live
        var groups: [Bitmap] = []
        var rows = live
        if let (target, perBucket) = options.within {
            if perBucket {
                let plan = try SegmentCommands.target(target, evaluator, env, names: .bucket)
                for bucket in options.buckets { groups.append(bucketEvaluator(database, bucket, now: options.now).rows(plan, within: live)) }
                rows = groups.reduce(Bitmap()) { $0.union($1) }
            } else {
                // The cohort at the command's now: no bucket, so no bucket names.
                rows = evaluator.rows(try SegmentCommands.target(target, evaluator, env), within: live)
            }
        }
        let accumulators = series.values(rows: rows, groups: groups, options.buckets, now: options.now, evaluator)
        return .array(zip(options.buckets, accumulators).map { row($0, series.reply($1), now: options.now) })
    }

    /// `SERIES.STATS value-expr BY unit range [IN target] [OFFSET ±HH:MM] [AT time]`: rows
    /// `[bucket_start, users, n, sum, min, max, avg, complete]`, AGG.STATS at each `now_b`.
    static func stats(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let usage = "SERIES.STATS value-expr BY unit FROM time TO time | LAST n [IN target] [OFFSET ±HH:MM] [AT time]"
        let options = try self.options(args, env, groups: true, usage: usage)
        if let within = options.within, !within.perBucket { throw .syntax("SERIES.STATS takes IN target, not COHORT (\(usage))") }
        let database = copy db
        let evaluator = Evaluator(db: database, now: options.now)
        let (plan, type) = try SegmentCommands.value(args[0], evaluator, env, names: .bucket)
        guard type != .string else { throw .err("SERIES.STATS needs a numeric, time or bool value, got string") }
        let target = try options.within.map { (text, _) throws(CohortError) in try SegmentCommands.target(text, evaluator, env, names: .bucket) }
        var rows: [Reply] = []
        for bucket in options.buckets {
            let e = bucketEvaluator(database, bucket, now: options.now)
            let group = target.map { e.rows($0, within: database.users.live) } ?? database.users.live
            rows.append(.array([.bulk(TimeFormat.format(bucket.start))] + SegmentCommands.stats(plan, type, over: group, e) + [.bool(bucket.complete(options.now))]))
        }
        return .array(rows)
    }

    /// An evaluator of one bucket: at its `now_b`, with its `bucket_start`/`bucket_end`.
    /// A new one per bucket: a scan's segment memo holds for one now only.
    static func bucketEvaluator(_ db: Database, _ bucket: Buckets.Bucket, now: Int64) -> Evaluator {
        var evaluator = Evaluator(db: db, now: bucket.now(now))
        evaluator.bucket = (bucket.start, bucket.end)
        return evaluator
    }

    /// `fn(event[.prop] [where expr])` bound as the aggregate of the same name
    /// (`users(e ...)` as `count(e ...)`, then counted per user): one rule for both.
    static func eventSeries(_ text: String, _ evaluator: Evaluator, _ env: CommandEnvironment) throws(CohortError) -> EventSeries {
        guard let open = text.firstIndex(of: "("),
            let function = EventSeries.Function(rawValue: text[..<open].trimmingCharacters(in: .whitespaces).lowercased())
        else {
            throw .err("expected count, sum, avg, min, max, distinct or users(event[.prop] [where expr]), got '\(text)'")
        }
        let bound = function == .users ? "count" + text[open...] : text
        let plan: ValuePlan
        do {
            (plan, _) = try SegmentCommands.value(bound, evaluator, env, names: .bucket)
        } catch {
            throw .err("'\(text)': \(error.message)")
        }
        guard case .aggregate(let a) = plan, case .all = a.window else {
            throw .err("'\(text)': one event aggregate without a window (the buckets are the windows)")
        }
        switch function {
        case .count, .users:
            guard a.property == nil else { throw .err("'\(text)': \(function.rawValue) takes an event, not a property") }
        case .sum, .avg, .min, .max, .distinct:
            guard a.property != nil else { throw .err("'\(text)': \(function.rawValue) needs event.property") }
        }
        return EventSeries(function: function, table: a.table, property: a.property, filter: a.filter)
    }
}
