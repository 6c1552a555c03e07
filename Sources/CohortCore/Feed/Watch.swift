/// One watched segment: its recorded membership `M`, the next time-driven change of each
/// user, and its stream (FEATURES §1.5.1).
///
/// Invariants: `members` holds exactly the live rows with `M = 1`; `timers` holds, for
/// each live row whose membership can change with time alone, `next(s, u, T)` from the
/// last evaluation of that row (a write, a fired change, a definition); `plan` is the
/// segment's bound plan those evaluations used, and `fingerprint` its text form, which
/// a definition change compares to tell whether the meaning changed; `reads` and
/// `finder` are derived from `plan` (set together by `rebind`).
struct Watch: Sendable {
    let name: String
    /// The engine time at which the watch started (its first evaluation): the recorded
    /// membership has no history before it (`SERIES.COUNT ... RECORDED` answers nil).
    let since: Int64
    private(set) var plan: BoolPlan
    private(set) var fingerprint: String
    /// What the plan reads: a write touching none of it skips this watch.
    private(set) var reads: PlanReads
    /// The next-change finder of the plan as bound (used as is when the plan needs no
    /// instantiation against the data).
    private(set) var finder: NextChange
    var members = Bitmap()
    var timers = TimerHeap()
    var stream: SegmentStream
    /// Entries appended since the engine last published (`Database.takeFeedNotices`).
    var unpublished: [FeedEntry] = []
    /// The splits of this segment (FEATURES §2), by name; each `entered` entry assigns.
    var splits: [Split] = []

    init(name: String, plan: BoolPlan, stream: SegmentStream, since: Int64) {
        self.name = name
        self.since = since
        self.plan = plan
        self.fingerprint = Watch.fingerprint(plan)
        self.reads = PlanReads(plan)
        self.finder = NextChange(plan)
        self.stream = stream
    }

    /// Takes a changed definition's plan.
    mutating func rebind(_ plan: BoolPlan) {
        self.plan = plan
        fingerprint = Watch.fingerprint(plan)
        reads = PlanReads(plan)
        finder = NextChange(plan)
    }

    /// Appends a change to the stream, retention applied at its own time, and keeps it
    /// for publishing. An entering user is assigned to the splits (the first `entered`
    /// entry after a split's definition is the user's assignment, §2.3.3): `user` is the
    /// row's id, needed only then (nil when the segment has no split).
    mutating func record(_ row: UInt32, _ change: Change, _ cause: Cause, at t: Int64, user: String? = nil) {
        unpublished.append(stream.append(row: row, change: change, cause: cause, at: t, now: t))
        guard change == .entered, !splits.isEmpty else { return }
        guard let user else { preconditionFailure("an entry of a segment with splits recorded without its user id") }
        for i in splits.indices { splits[i].assign(row, user: user, at: t) }
    }

    /// The outcome of evaluating `row` at `t`: its recorded membership becomes `member`
    /// (an entry with `cause` when that changes it) and its next time-driven change
    /// `next`. `user` as for `record`. Returns whether an entry was appended.
    @discardableResult
    mutating func settle(_ row: UInt32, member: Bool, next: Int64?, cause: Cause, at t: Int64, user: String?) -> Bool {
        defer { timers.set(row, next) }
        guard member != members.contains(row) else { return false }
        if member { members.insert(row) } else { members.remove(row) }
        record(row, member ? .entered : .exited, cause, at: t, user: user)
        return true
    }

    /// `row`'s id as `record` and `settle` need it: only when the segment has splits.
    func userForSplits(_ row: UInt32, in users: UserTable) -> String? { splits.isEmpty ? nil : users.id(of: row) }

    /// The plan's full structure as text: equal texts mean equal meaning.
    static func fingerprint(_ plan: BoolPlan) -> String { String(reflecting: plan) }

    /// The `arms` field of an entry of `user` (FEATURES §1.4): per split, in name order,
    /// the user's arm or null, as a JSON object; nil when no split uses the segment.
    /// Split and arm names are identifiers, so they need no escaping.
    func arms(of user: String) -> String? {
        guard !splits.isEmpty else { return nil }
        let pairs = splits.map { s in "\"\(s.name)\":" + (s.arm(of: user).map { "\"\(s.arms[$0].name)\"" } ?? "null") }
        return "{" + pairs.joined(separator: ",") + "}"
    }

    var memoryBytes: Int { members.memoryBytes + timers.memoryBytes + stream.memoryBytes + splits.reduce(0) { $0 + $1.memoryBytes } }
}

/// Every watched segment and the engine time the feed has reached (FEATURES §1).
///
/// Invariant: every time-driven change with `at < time` is in the streams, and none with
/// `at >= time` is. `time` never decreases; it is the engine time `E` of the last
/// write, `CLOCK.SET` or clock advance. The feed is part of `Database` (so a view or a
/// snapshot sees streams consistent with the data) and changes only under the engine's
/// write lock, through `Database+Feed.swift`.
public struct ChangeFeed: Sendable {
    /// The watches in bytewise name order (the order time-driven changes are applied
    /// in), mutated in place by index in `Database+Feed`; added and removed only through
    /// `add` and `remove`, which keep `positions` in step. An array, not a dictionary
    /// keyed by name: the write path visits every watch per write.
    var list: [Watch] = []
    /// The index in `list` of each watch, by name.
    private var positions: [String: Int] = [:]
    public internal(set) var time: Int64 = 0
    /// Deleted rows whose final `exited` entries are still in some stream, by user id:
    /// what a later `USER.DEL` of the same id (a new row) removes too. Rebuilt from the
    /// streams on restore; bounded by deletions of watched members.
    var formerRows: [String: [UInt32]] = [:]
    /// Buffers the evaluations reuse (scratch, not state: never encoded or compared).
    var scratch = CountTimeline.Scratch()

    public init() {}

    mutating func add(_ watch: Watch) {
        if let i = positions[watch.name] { list[i] = watch } else { list.append(watch) }
        list.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        positions = Dictionary(uniqueKeysWithValues: list.enumerated().map { ($1.name, $0) })
    }

    mutating func remove(_ name: String) -> Bool {
        guard let i = positions[name] else { return false }
        list.remove(at: i)
        positions = Dictionary(uniqueKeysWithValues: list.enumerated().map { ($1.name, $0) })
        return true
    }

    /// The index in `list` of the watch of `name`.
    func index(of name: String) -> Int? { positions[name] }

    /// The watch of `name`, if watched.
    subscript(name: String) -> Watch? { positions[name].map { list[$0] } }

    public var watchCount: Int { list.count }
    public var entryCount: Int { list.reduce(0) { $0 + $1.stream.length } }
    public var isEmpty: Bool { list.isEmpty }
    public func isWatched(_ name: String) -> Bool { positions[name] != nil }
    var memoryBytes: Int { list.reduce(0) { $0 + $1.memoryBytes } }

    /// The earliest scheduled time-driven change of any watch.
    var earliestDue: Int64? {
        var earliest: Int64?
        for watch in list { if let t = watch.timers.earliest, t < earliest ?? .max { earliest = t } }
        return earliest
    }

    var hasUnpublished: Bool { list.contains { !$0.unpublished.isEmpty } }

    /// The watch and index of the split `name`, if defined.
    func split(named name: String) -> (watch: Int, split: Int)? {
        for (w, watch) in list.enumerated() {
            if let s = watch.splits.firstIndex(where: { $0.name == name }) { return (w, s) }
        }
        return nil
    }

    /// The stream of `key` (`segment:<name>`), if watched.
    func stream(forKey key: String) -> SegmentStream? {
        guard key.hasPrefix("segment:") else { return nil }
        return watch(forKey: key)?.stream
    }

    /// The watch of `key` (`segment:<name>`), if watched.
    func watch(forKey key: String) -> Watch? {
        guard key.hasPrefix("segment:") else { return nil }
        return self[String(key.dropFirst(8))]
    }
}

/// An entry as published on `segment:<name>` (FEATURES §1.4): what a subscriber learns.
public struct FeedNotice: Sendable {
    public let segment: String
    public let id: StreamID
    public let user: String
    public let change: Change
    public let at: Int64
    public let cause: Cause
    /// The `arms` object (FEATURES §1.4) for a segment used by splits, else nil.
    public let arms: String?

    public var channel: String { "segment:" + segment }

    /// The pub/sub payload: compact JSON, keys in FEATURES' order, strings escaped per
    /// RFC 8259 (ids and names hold no control characters).
    public var json: String {
        func quoted(_ s: String) -> String {
            var out = "\""
            for c in s.unicodeScalars {
                switch c {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                default: out.unicodeScalars.append(c)
                }
            }
            return out + "\""
        }
        let fields =
            "\"id\":\"\(id)\",\"segment\":\(quoted(segment)),\"user\":\(quoted(user)),\"change\":\"\(change.name)\",\"at\":\"\(TimeFormat.format(at))\",\"cause\":\"\(cause.name)\""
        return "{" + fields + (arms.map { ",\"arms\":" + $0 } ?? "") + "}"
    }
}
