/// The change log of one watched segment, `segment:<name>` (FEATURES §1.3–§1.6).
///
/// Invariants: entries in `[start, log.end)` are in strictly increasing ID order (IDs come
/// from `at`, which never decreases, and a per-second counter); `length` counts those not
/// `removed`; each user's entries are chained newest to oldest through `previousOfUser`
/// from `lastOfUser[row]`, so `USER.DEL` finds them in O(their number). Retention
/// (`MAXLEN`, `MAXAGE`) removes from the front, exactly, after each append, and
/// `trimmedUpTo` is the ID of the newest entry it removed.
///
/// Cost: append O(1) amortised; a range read O(log n + entries returned + removed ones
/// skipped). Memory: 24 bytes an entry plus 4 bytes per user row page touched.
struct SegmentStream: Sendable {
    private(set) var log = EntryLog()
    /// Absolute index of the oldest entry retention kept.
    private(set) var start = 0
    /// Retained entries not removed by a deletion.
    private(set) var length = 0
    /// Entries ever appended (Redis's `entries-added`).
    private(set) var entriesAdded: UInt64 = 0
    private(set) var lastID = StreamID.zero
    private(set) var maxDeletedID = StreamID.zero
    private(set) var trimmedUpTo = StreamID.zero
    var maxLength: Int
    /// Seconds; nil for no age limit.
    var maxAge: Int64?
    /// Absolute index of each user row's newest entry, or `FeedEntry.none`.
    private var lastOfUser = RowPages<UInt32>(empty: FeedEntry.none)

    static let defaultMaxLength = 1_000_000

    init(maxLength: Int = SegmentStream.defaultMaxLength, maxAge: Int64? = nil) {
        self.maxLength = maxLength
        self.maxAge = maxAge
    }

    /// A stream as a snapshot saved it: its retained entries (none removed) and counters.
    init(
        restoring entries: [FeedEntry], entriesAdded: UInt64, lastID: StreamID, maxDeletedID: StreamID, trimmedUpTo: StreamID,
        maxLength: Int, maxAge: Int64?
    ) {
        self.init(maxLength: maxLength, maxAge: maxAge)
        for entry in entries { link(entry) }
        self.entriesAdded = entriesAdded
        self.lastID = lastID
        self.maxDeletedID = maxDeletedID
        self.trimmedUpTo = trimmedUpTo
    }

    /// Appends the change and applies retention at engine time `now`; returns the entry.
    @discardableResult
    mutating func append(row: UInt32, change: Change, cause: Cause, at: Int64, now: Int64) -> FeedEntry {
        let ms = UInt64(at) * 1000
        let seq = entriesAdded > 0 && lastID.ms == ms ? UInt32(lastID.seq + 1) : 0
        let entry = FeedEntry(at: at, seq: seq, row: row, previousOfUser: FeedEntry.none, change: change, cause: cause, removed: false)
        let linked = link(entry)
        entriesAdded += 1
        lastID = linked.id
        trim(now: now)
        return linked
    }

    /// Appends `entry` at the end, chained to the user's previous entry.
    @discardableResult
    private mutating func link(_ entry: FeedEntry) -> FeedEntry {
        var entry = entry
        entry.previousOfUser = lastOfUser[entry.row]
        lastOfUser[entry.row] = UInt32(log.end)
        log.append(entry)
        length += 1
        return entry
    }

    /// Removes the oldest entries while the stream is longer than `maxLength` or, with
    /// `maxAge`, while the oldest is older than `now - maxAge`.
    mutating func trim(now: Int64) {
        while start < log.end {
            let oldest = log[start]
            if !oldest.removed {
                let tooOld = maxAge.map { oldest.at < now - $0 } ?? false
                guard length > maxLength || tooOld else { break }
                trimmedUpTo = oldest.id
                length -= 1
            }
            start += 1
        }
        log.release(before: start)
    }

    /// Removes every retained entry of `row` (what `USER.DEL` does), except its newest
    /// with `keepingNewest` (the final `exited` entry); returns how many.
    @discardableResult
    mutating func removeEntries(of row: UInt32, keepingNewest: Bool) -> Int {
        var removed = 0
        var i = lastOfUser[row]
        if keepingNewest, i != FeedEntry.none, Int(i) >= start { i = log[Int(i)].previousOfUser }
        while i != FeedEntry.none, Int(i) >= start {
            var entry = log[Int(i)]
            if !entry.removed {
                entry.removed = true
                log[Int(i)] = entry
                length -= 1
                removed += 1
                maxDeletedID = Swift.max(maxDeletedID, entry.id)
            }
            i = entry.previousOfUser
        }
        if !keepingNewest { lastOfUser[row] = FeedEntry.none }
        return removed
    }

    /// The first absolute index in `[start, end)` whose ID is at least `id`.
    private func firstIndex(atLeast id: StreamID) -> Int {
        var (low, high) = (start, log.end)
        while low < high {
            let mid = (low + high) / 2
            if log[mid].id < id { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Retained entries with `lower <= id <= upper`, oldest first (newest first with
    /// `reverse`), at most `limit`.
    func entries(from lower: StreamID, through upper: StreamID, limit: Int = .max, reverse: Bool = false) -> [FeedEntry] {
        guard lower <= upper, limit > 0 else { return [] }
        var result: [FeedEntry] = []
        let first = firstIndex(atLeast: lower)
        let end = upper == .max ? log.end : firstIndex(atLeast: upper.successor ?? .max)
        if reverse {
            var i = end - 1
            while i >= first, result.count < limit {
                if !log[i].removed { result.append(log[i]) }
                i -= 1
            }
        } else {
            var i = first
            while i < end, result.count < limit {
                if !log[i].removed { result.append(log[i]) }
                i += 1
            }
        }
        return result
    }

    var firstEntry: FeedEntry? { entries(from: .zero, through: .max, limit: 1).first }
    var lastEntry: FeedEntry? { entries(from: .zero, through: .max, limit: 1, reverse: true).first }
    /// Every retained entry, oldest first (for snapshots).
    var retained: [FeedEntry] { entries(from: .zero, through: .max) }

    var memoryBytes: Int { log.memoryBytes + lastOfUser.memoryBytes }
}
