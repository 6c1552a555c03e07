/// The change-feed commands of FEATURES §1.3: watches, stream reads, the clock.
///
/// Streams are named `segment:<name>`. Reads follow Redis's replies (XRANGE, XREVRANGE,
/// XREAD, XLEN, XINFO STREAM); the streams are written by Cohort only, so Redis's write
/// and consumer-group commands answer an error. `XREAD BLOCK` waits in the server
/// (`CohortServer`); here, without a connection, it answers at once.
enum FeedCommands {
    static let all: [Command] = [
        Command("SEGMENT.WATCH", arity: -2, .write(watch)),
        Command("SEGMENT.UNWATCH", arity: 2, flags: .frees, .write(unwatch)),
        Command("SEGMENT.WATCHES", arity: 1, .read(watches)),
        Command("SEGMENT.SYNC", arity: -2, .engine(sync)),
        Command("XRANGE", arity: -4, .read(range)),
        Command("XREVRANGE", arity: -4, .read(reverseRange)),
        Command("XREAD", arity: -4, .read(read)),
        Command("XLEN", arity: 2, flags: .fast, .read(length)),
        Command("XINFO", arity: -2, .read(info)),
        Command("CLOCK.GET", arity: 1, .engine(clockGet)),
        Command("CLOCK.SET", arity: 2, .write(clockSet)),
        Command("PUBLISH", arity: 3, .stateless(publish)),
    ] + ["XADD", "XDEL", "XTRIM", "XGROUP", "XREADGROUP", "XACK", "XCLAIM", "XAUTOCLAIM", "XPENDING", "XSETID"].map {
        Command($0, arity: -1, .stateless(refuseStreamWrite))
    }

    // MARK: Watches

    static func watch(_ db: inout Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> WriteResult {
        var maxLength: Int?
        var maxAge: Int64?
        var backfill = false
        var i = 1
        while i < args.count {
            switch args[i].uppercased() {
            case "MAXLEN":
                guard i + 1 < args.count, let n = Int(args[i + 1]), n > 0 else { throw .err("MAXLEN needs a positive integer") }
                maxLength = n
                i += 2
            case "MAXAGE":
                guard i + 1 < args.count, let d = duration(args[i + 1]), d > 0 else {
                    throw .err("MAXAGE needs a positive duration (as 30d or seconds)")
                }
                maxAge = d
                i += 2
            case "BACKFILL":
                backfill = true
                i += 1
            default: throw .syntax("unknown option '\(args[i])' (use MAXLEN, MAXAGE or BACKFILL)")
            }
        }
        let (members, lastID) = try db.watch(args[0], maxLength: maxLength, maxAge: maxAge, backfill: backfill, now: env.now, maxWatches: env.limits.watches)
        return WriteResult(.array([.integer(Int64(members)), .bulk(lastID.description)]), journal: args.journal)
    }

    static func unwatch(_ db: inout Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> WriteResult {
        let dropped = try db.unwatch(args[0])
        return WriteResult(.integer(dropped ? 1 : 0), journal: dropped ? args.journal : nil)
    }

    static func watches(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        .array(
            db.feed.list.map { w in
                .array([
                    .bulk(w.name), .integer(Int64(w.members.count)), .integer(Int64(w.stream.length)), .bulk(w.stream.lastID.description),
                    .integer(Int64(w.stream.maxLength)), w.stream.maxAge.map { .integer($0) } ?? .null,
                ])
            })
    }

    /// `SEGMENT.SYNC name [CURSOR c] [COUNT n]`: pages of the recorded membership as of
    /// one stream ID, pinned by `CURSOR 0`.
    static func sync(_ engine: Engine, _ args: Arguments) throws(CohortError) -> Reply {
        var token = "0"
        var limit = 1000
        var i = 1
        while i < args.count {
            guard i + 1 < args.count else { throw .syntax("expected a value after \(args[i])") }
            switch args[i].uppercased() {
            case "CURSOR": token = args[i + 1]
            case "COUNT":
                guard let n = Int(args[i + 1]), n > 0 else { throw .err("COUNT must be a positive integer, got '\(args[i + 1])'") }
                limit = n
            default: throw .syntax("unknown option '\(args[i])' (use CURSOR or COUNT)")
            }
            i += 2
        }
        let name = args[0]
        var cursor: SyncCursors.Cursor
        if token == "0" {
            let pinned = engine.read { db in db.feed[name].map { ($0.members, $0.stream.lastID) } }
            guard let (members, id) = pinned else { throw .err("segment '\(name)' is not watched (SEGMENT.WATCH it first)") }
            cursor = SyncCursors.Cursor(members: members, id: id, position: 0, lastUsed: SyncCursors.clock())
            token = engine.syncCursors.pin(cursor)
        } else {
            guard let found = engine.syncCursors.take(token) else { throw .err("cursor expired; start again with CURSOR 0") }
            cursor = found
        }
        let page = cursor.members.values(from: cursor.position, limit: limit)
        var next: UInt32?
        if let last = page.last, last < UInt32.max, cursor.members.count(in: (last + 1)..<UInt32.max) > 0 { next = last + 1 }
        engine.syncCursors.update(token, position: next)
        let users = engine.read { db in page.map { Reply.bulk(db.users.id(of: $0)) } }
        return .array([.bulk(next == nil ? "0" : token), .bulk(cursor.id.description), .array(users)])
    }

    // MARK: Stream reads

    static func range(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        try ranged(db, args, reverse: false)
    }

    static func reverseRange(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        try ranged(db, args, reverse: true)
    }

    /// `XRANGE key start end [COUNT n]` and `XREVRANGE key end start [COUNT n]`.
    private static func ranged(_ db: borrowing Database, _ args: Arguments, reverse: Bool) throws(CohortError) -> Reply {
        let (lowText, highText) = reverse ? (args[2], args[1]) : (args[1], args[2])
        var limit = Int.max
        if args.count > 3 {
            guard args.count == 5, args[3].uppercased() == "COUNT" else { throw .syntax("") }
            guard let n = Int(args[4]) else { throw .err("value is not an integer or out of range") }
            limit = max(0, n)
        }
        guard let low = bound(lowText, isStart: true), let high = bound(highText, isStart: false) else {
            throw .err("Invalid stream ID specified as stream command argument")
        }
        guard let watch = db.feed.watch(forKey: args[0]) else { return .array([]) }
        let entries = watch.stream.entries(from: low, through: high, limit: limit, reverse: reverse)
        return .array(entries.map { render($0, watch, db) })
    }

    /// `XREAD [COUNT n] [BLOCK ms] STREAMS key ... id ...`; a null array when no key has
    /// entries after its ID.
    static func read(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        let request = try XReadRequest(args)
        return request.reply(db) ?? .nullArray
    }

    static func length(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        .integer(Int64(db.feed.stream(forKey: args[0])?.length ?? 0))
    }

    /// `XINFO STREAM key`: Redis 7's fields, plus `trimmed-up-to`.
    static func info(_ db: borrowing Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> Reply {
        guard args[0].uppercased() == "STREAM" else {
            throw .err("unknown subcommand '\(args[0].prefix(64))'. Cohort answers XINFO STREAM only (consumer groups are not supported yet)")
        }
        guard args.count == 2 else { throw .wrongArity("xinfo|stream") }
        guard let watch = db.feed.watch(forKey: args[1]) else { throw .err("no such key") }
        let s = watch.stream
        let fields: [(String, Reply)] = [
            ("length", .integer(Int64(s.length))), ("radix-tree-keys", .integer(0)), ("radix-tree-nodes", .integer(0)),
            ("last-generated-id", .bulk(s.lastID.description)), ("max-deleted-entry-id", .bulk(s.maxDeletedID.description)),
            ("entries-added", .integer(Int64(s.entriesAdded))),
            ("recorded-first-entry-id", .bulk((s.firstEntry?.id ?? .zero).description)), ("groups", .integer(0)),
            ("first-entry", s.firstEntry.map { render($0, watch, db) } ?? .null), ("last-entry", s.lastEntry.map { render($0, watch, db) } ?? .null),
            ("trimmed-up-to", .bulk(s.trimmedUpTo.description)),
        ]
        return .map(fields.map { Reply.MapEntry(.bulk($0.0), $0.1) })
    }

    // MARK: Clock

    static func clockGet(_ engine: Engine, _ args: Arguments) throws(CohortError) -> Reply { .bulk(TimeFormat.format(engine.now)) }

    /// `CLOCK.SET time`: applies every time-driven change before `time`, then moves the
    /// fixed clock there. Journaled, so a restart never moves the clock back.
    static func clockSet(_ db: inout Database, _ args: Arguments, _ env: CommandEnvironment) throws(CohortError) -> WriteResult {
        guard env.clockIsFixed || env.replaying else { throw .err("CLOCK.SET needs a fixed clock (start with --now)") }
        guard let t = TimeFormat.parse(args[0]) else {
            throw .err("invalid time '\(args[0])': use Unix seconds or ISO-8601 (2026-06-30T12:00:00Z)")
        }
        guard t >= env.now || env.replaying else {
            throw .err("CLOCK.SET \(TimeFormat.format(t)) is before the engine time \(TimeFormat.format(env.now)): the clock never moves back")
        }
        let appended = db.advanceFeed(to: t)
        return WriteResult(.integer(Int64(appended)), journal: [args.command, String(t)], effect: .clock(t))
    }

    // MARK: Refused

    static func publish(_ args: Arguments) throws(CohortError) -> Reply {
        throw .err("PUBLISH is not supported: segment channels are written by Cohort")
    }

    static func refuseStreamWrite(_ args: Arguments) throws(CohortError) -> Reply {
        throw .err("segment streams are written by Cohort; consumer groups are not supported yet (store your last ID and use XREAD)")
    }

    // MARK: Helpers

    /// An entry as Redis replies it: `[id, [user, u, change, c, at, iso, cause, c]]`.
    /// A stream entry `[id, [user, u, change, c, at, t, cause, c(, arms, {...})]]`.
    static func render(_ entry: FeedEntry, _ watch: Watch, _ db: borrowing Database) -> Reply {
        let user = db.users.id(of: entry.row)
        var fields: [Reply] = [
            .bulk("user"), .bulk(user), .bulk("change"), .bulk(entry.change.name), .bulk("at"), .bulk(TimeFormat.format(entry.at)), .bulk("cause"),
            .bulk(entry.cause.name),
        ]
        if let arms = watch.arms(of: user) { fields += [.bulk("arms"), .bulk(arms)] }
        return .array([.bulk(entry.id.description), .array(fields)])
    }

    /// An XRANGE bound: `-`, `+`, `ms`, `ms-seq`, or `(id` (exclusive).
    static func bound(_ text: String, isStart: Bool) -> StreamID? {
        if text == "-" { return .zero }
        if text == "+" { return .max }
        if text.hasPrefix("(") {
            guard let id = StreamID.parse(String(text.dropFirst()), missingSeq: isStart ? 0 : .max) else { return nil }
            return isStart ? id.successor : id.predecessor
        }
        return StreamID.parse(text, missingSeq: isStart ? 0 : .max)
    }

    /// A duration word: seconds, or a language duration (`30d`, `12h`).
    static func duration(_ text: String) -> Int64? {
        if let seconds = Int64(text) { return seconds }
        guard let tokens = try? Lexer.tokenize(text), case .duration(let d)? = tokens.first?.kind,
            tokens.dropFirst().allSatisfy({ if case .end = $0.kind { true } else { false } })
        else { return nil }
        return d
    }
}

/// A parsed `XREAD`: what the engine answers at once and the server waits on with `BLOCK`.
public struct XReadRequest: Sendable {
    public let count: Int
    /// Milliseconds to wait when nothing is there yet (0: forever); nil without BLOCK.
    public let block: Int?
    public let keys: [String]
    /// The ID after which to read, per key; nil for `$` (entries appended after the call).
    public let after: [StreamID?]

    public init(_ args: Arguments) throws(CohortError) {
        var count = Int.max
        var block: Int?
        var i = 0
        while i < args.count, args[i].uppercased() != "STREAMS" {
            guard i + 1 < args.count else { throw .syntax("") }
            switch args[i].uppercased() {
            case "COUNT":
                guard let n = Int(args[i + 1]) else { throw .err("value is not an integer or out of range") }
                count = n <= 0 ? Int.max : n
            case "BLOCK":
                guard let ms = Int(args[i + 1]), ms >= 0 else { throw .err("timeout is not an integer or out of range") }
                block = ms
            default: throw .syntax("")
            }
            i += 2
        }
        let rest = args.count - i - 1
        guard i < args.count, rest > 0, rest % 2 == 0 else {
            throw .err("Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.")
        }
        let n = rest / 2
        keys = (0..<n).map { args[i + 1 + $0] }
        var after: [StreamID?] = []
        for k in 0..<n {
            let text = args[i + 1 + n + k]
            if text == "$" {
                after.append(nil)
            } else {
                guard let id = StreamID.parse(text, missingSeq: 0) else { throw .err("Invalid stream ID specified as stream command argument") }
                after.append(id)
            }
        }
        self.count = count
        self.block = block
        self.after = after
    }

    /// `$` resolved against `db`: each key's last ID now (what a blocked read waits after).
    public func resolvingLast(in db: borrowing Database) -> XReadRequest {
        var copy = self
        copy.afterResolved = after.enumerated().map { k, id in id ?? (db.feed.stream(forKey: keys[k])?.lastID ?? .zero) }
        return copy
    }

    private var afterResolved: [StreamID]?

    /// The entries after each key's ID (`$` as nothing yet), nil when there are none.
    public func reply(_ db: borrowing Database) -> Reply? {
        var result: [Reply.MapEntry] = []
        for (k, key) in keys.enumerated() {
            guard let watch = db.feed.watch(forKey: key) else { continue }
            guard let start = afterResolved?[k] ?? after[k] else { continue }
            guard let from = start.successor else { continue }
            let entries = watch.stream.entries(from: from, through: .max, limit: count)
            if !entries.isEmpty { result.append(.init(.bulk(key), .array(entries.map { FeedCommands.render($0, watch, db) }))) }
        }
        return result.isEmpty ? nil : .pairs(result)
    }
}
