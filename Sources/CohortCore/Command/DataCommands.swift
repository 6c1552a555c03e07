/// The data commands of DESIGN §4: schema, users, events, INFO and SNAPSHOT.
enum DataCommands {
    static let all: [Command] = [
        Command("ATTR.DEFINE", arity: 3, flags: .definition, .write(attrDefine)),
        Command("EVENT.DEFINE", arity: -2, flags: .definition, .write(eventDefine)),
        Command("USER.SET", arity: -4, flags: .fast, .write(userSet)),
        Command("USER.UNSET", arity: -3, flags: .fast, .write(userUnset)),
        Command("USER.GET", arity: 2, flags: .fast, .read(userGet)),
        Command("USER.DEL", arity: 2, flags: .frees, .write(userDel)),
        Command("EVENT.ADD", arity: -4, flags: .fast, .write(eventAdd)),
        Command("INFO", arity: -1, .engine(info)),
        Command("SNAPSHOT", arity: 1, .engine(snapshot)),
    ]

    static func attrDefine(_ db: inout Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> WriteResult {
        guard let type = AttributeType(rawValue: args[1]) else {
            throw .err("unknown attribute type '\(args[1])' (use int, float, bool, string, time or tags)")
        }
        let changed = try db.defineAttribute(args[0], type: type, limits: env.limits)
        return WriteResult(.ok, journal: changed ? args.journal : nil)
    }

    static func eventDefine(_ db: inout Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> WriteResult {
        var properties: [PropertyDefinition] = []
        for word in args.dropFirst() { properties.append(try PropertyDefinition.parse(word)) }
        let changed = try db.defineEvent(args[0], properties: properties, limits: env.limits)
        return WriteResult(.ok, journal: changed ? args.journal : nil)
    }

    static func userSet(_ db: inout Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> WriteResult {
        let rowsBefore = db.users.rowCount
        let row = try db.setAttributes(user: args[0], try args.pairs(from: 1))
        return WriteResult(.ok, journal: args.journal, effect: .user(row, Int(row) >= rowsBefore ? .newUser : .attributes))
    }

    static func userUnset(_ db: inout Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> WriteResult {
        let row = db.users.row(of: args[0])
        try db.unsetAttributes(user: args[0], Array(args.dropFirst()))
        return WriteResult(.ok, journal: row != nil ? args.journal : nil, effect: row.map { .user($0, .attributes) } ?? .none)
    }

    static func userGet(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let pairs = db.attributes(of: args[0]) ?? []
        return .map(pairs.map { Reply.MapEntry(.bulk($0.name), Reply($0.value)) })
    }

    static func userDel(_ db: inout Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> WriteResult {
        guard let row = db.users.row(of: args[0]) else { return WriteResult(.integer(0), journal: nil) }
        db.deleteUser(args[0])
        return WriteResult(.integer(1), journal: args.journal, effect: .deletedUser(row))
    }

    static func eventAdd(_ db: inout Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> WriteResult {
        let time: Int64
        if args[2] == "*" {
            time = env.wallClock
        } else {
            guard let parsed = TimeFormat.parse(args[2]) else {
                throw .err("invalid event time '\(args[2])': use Unix seconds, ISO-8601 (2026-06-30T12:00:00Z) or * for now")
            }
            time = parsed
        }
        let rowsBefore = db.users.rowCount
        let row = try db.addEvent(user: args[0], event: args[1], time: time, properties: try args.pairs(from: 3))
        var journal = args.journal
        journal[3] = String(time)
        // Rows are dense and never reused: a row past the old count is a new user.
        let scope: WriteScope = Int(row) >= rowsBefore ? .newUser : .event(table: db.schema.event(named: args[1])!.id)
        return WriteResult(.ok, journal: journal, effect: .user(row, scope))
    }

    /// `SNAPSHOT`: `+OK` once the snapshot is durably on disk.
    static func snapshot(_ engine: Engine, _ args: Arguments) throws(CohortError) -> Reply {
        guard let taker = engine.snapshotTaker else {
            throw .err("SNAPSHOT needs a data directory (start with --data-dir)")
        }
        _ = try taker.snapshot(engine)
        return .ok
    }

    static func info(_ engine: Engine, _ args: Arguments) throws(CohortError) -> Reply {
        guard args.count <= 1 else { throw .wrongArity(args.command) }
        let (users, events, memory, segments, aggregates, watches, entries) = engine.read { db in
            (db.users.liveCount, db.events.liveCount, db.memoryBytes, db.segmentCount, db.aggregateCount, db.feed.watchCount, db.feed.entryCount)
        }
        let indexes = engine.read { $0.events.indexBytes }
        let now = engine.environment.wallClock
        let merging = engine.mergeStatistics
        var lines = [
            "# Server",
            "cohort_version:\(Cohort.version)",
            "uptime_in_seconds:\(max(0, now - engine.startedAt))",
            "# Memory",
            "used_memory:\(ProcessMemory.usedBytes())",
            "used_memory_dataset:\(memory)",
            "used_memory_rss:\(ProcessMemory.residentBytes())",
            "maxmemory:\(engine.maxMemory ?? 0)",
            "maxmemory_policy:noeviction",
            "oom_rejected_writes:\(engine.oomRejectedWrites)",
            "used_memory_recent_copies:\(indexes.recent)",
            "used_memory_timelines:\(indexes.timeline)",
            "used_memory_activity_index:\(indexes.activity)",
            "# Persistence",
            "last_snapshot:\(engine.lastSnapshotTime.map(TimeFormat.format) ?? "")",
            "# Keyspace",
            "users:\(users)",
            "events:\(events)",
            "segments:\(segments)",
            "aggregates:\(aggregates)",
            "# Plans",
            "plan_cache_hits:\(engine.planCacheStatistics.hits)",
            "plan_cache_misses:\(engine.planCacheStatistics.misses)",
            "# Events",
            "delta_events:\(merging.deltaEvents)",
            "merges:\(merging.merges)",
            "merge_threshold:\(engine.mergeThreshold)",
            "# Feed",
            "watched_segments:\(watches)",
            "stream_entries:\(entries)",
            "feed_lag_seconds:\(engine.feedLag)",
        ]
        if let now = engine.fixedNow { lines.append("fixed_now:\(TimeFormat.format(now))") }
        return .bulk(lines.joined(separator: "\r\n") + "\r\n")
    }
}

/// Facts about this build.
public enum Cohort {
    public static let version = "0.1.0"
}
