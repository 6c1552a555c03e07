import CIntrinsics
/// The events of one type: an immutable sorted base and a small write-optimised delta.
///
/// **Base** (compressed sparse rows): the events of user row `u` are positions
/// `offsets[u] ..< offsets[u + 1]` of `times` and of every property column, sorted by
/// time, ties in arrival order. Rows at or past `offsets.count - 1` have no base events.
/// A window over one user is two binary searches in a short contiguous slice, and a
/// chunk of users a contiguous stretch of memory. Writes never touch the base: it is
/// replaced whole by a merge (`merged(live:rowCount:)` and `installing(_:live:)` off the
/// write lock, `adopt(_:builtFrom:live:)` under it), so copies of the table share it and
/// readers never wait for it.
///
/// **Delta**: events since the last merge, in arrival order (`deltaRows`, `deltaTimes`,
/// `delta`), plus a per-user index: `deltaLists[row]` heads a linked list through
/// `deltaNext` of that user's delta events in storage order (time, then arrival). So a
/// point read finds a user's delta events in O(their number), and a scan walks the
/// sorted `deltaUsers` beside its rows and treats the delta as a second, small source.
/// Every delta structure is chunked (`ChunkedArray`, `RowPages`): while a reader or a
/// snapshot holds a copy of the table, a write duplicates one chunk, not the delta.
///
/// **Storage order** of a user's events, what every aggregate sees: base and delta
/// merged by time, a base event before a delta event of equal time (it arrived first).
/// That is exactly the order a full compaction produces, so answers never depend on
/// when merges ran.
///
/// **Positions** name an event across both parts: `p < baseCount` is base position
/// `p`, `p >= baseCount` is delta index `p - baseCount` (what `where` filters and
/// string `first`/`last` read through `intValue(_:_:)` and its siblings).
///
/// Deletion (`deleteEvents(of:)`) unlinks a user's delta events at once and leaves its
/// base events as garbage for the next merge: rows are never reused and readers only
/// look at live rows, so they are invisible from then on.
///
/// **Indexes of the base**, built with each new base (never on a request's path):
/// `activity` (`ActivityIndex`), which rows have base events on each day, so windowed
/// scans skip the rows with no event in the window; `recent` (`RecentBase`), the last
/// month of every row's slice copied contiguously, so recent windows read a fifth of
/// the table instead of every row's cache lines; `timeline` (`EventTimeline`), the last
/// quarter's events in time order, so a filtered count reads a window contiguously.
///
/// Cost per event: 4 bytes of time in the base plus 4 bytes of offset per user row per
/// event type; about 2 bytes of activity index per distinct (user, day); the recent
/// copy's 4 bytes of time and property widths per recent event; the timeline's 8 bytes
/// and property widths per event of the last quarter. In the delta 12 bytes
/// (row, time, link) plus the per-user list entry.
/// Times are `UInt32` Unix seconds (1970 to 2106).
public struct EventTable: Sendable {
    init() {}

    public private(set) var offsets: ContiguousArray<UInt32> = [0]
    public private(set) var times = ContiguousArray<UInt32>()
    public private(set) var properties = PropertyColumns()
    /// Which rows have base events on each day: built with every new base.
    public private(set) var activity = ActivityIndex()
    /// The base's recent end, copied contiguously: built with every new base.
    public private(set) var recent: RecentBase?
    /// The base's last quarter in time order: built with every new base.
    public private(set) var timeline: EventTimeline?

    private(set) var deltaRows = ChunkedArray<UInt32>()
    private(set) var deltaTimes = ChunkedArray<UInt32>()
    private(set) var delta = DeltaColumns()
    /// The next delta index of the same user in storage order, `DeltaList.end` at the end.
    private(set) var deltaNext = ChunkedArray<UInt32>()
    /// The delta events of each user row (`DeltaList.empty` for none; emptied on `USER.DEL`).
    private(set) var deltaLists = RowPages<DeltaList>(empty: .empty)
    /// The rows of `deltaLists`, in a bitmap for scans (sorted iteration).
    private(set) var deltaUsers = Bitmap()
    /// Every delta event's time lies in here (nil with none appended): widened by each
    /// append, never narrowed by a deletion, so a superset. A window holding all of it
    /// holds every delta event: a user's delta count is then its list's `count`.
    private(set) var deltaTimeRange: ClosedRange<UInt32>?
    /// Delta events appended by a bulk load without the per-user index: the load
    /// compacts before anything reads. Zero whenever a reader can see the table.
    private(set) var unindexed = 0

    /// Dictionaries of the string properties, indexed like `properties.strings`.
    public private(set) var dictionaries: [StringDictionary] = []
    /// Events of live users, base or delta.
    public private(set) var liveCount = 0
    /// Events of deleted users still in the base or the delta arrays (purged by a merge).
    private(set) var deadCount = 0
    /// Rows whose events were deleted since the last merge or compaction, in order: what
    /// `install` needs to count the garbage a merge taken before them carries.
    private(set) var deletedRows = ContiguousArray<UInt32>()

    /// One user's delta events: first and last index of its list, and their number.
    struct DeltaList: Sendable, BitwiseCopyable {
        static let end = UInt32.max
        /// No events (what a user without delta events reads as).
        static let empty = DeltaList(first: end, last: end, count: 0)
        var first: UInt32
        var last: UInt32
        var count: Int
    }

    /// A compacted table from a snapshot; `properties` has the slots of the event's
    /// declared properties and `times.count` elements per column.
    init(offsets: ContiguousArray<UInt32>, times: ContiguousArray<UInt32>, properties: PropertyColumns, dictionaries: [StringDictionary]) {
        self.offsets = offsets
        self.times = times
        self.properties = properties
        self.dictionaries = dictionaries
        buildIndexes()
        delta = DeltaColumns(shape: properties)
        liveCount = times.count
    }

    /// The indexes of a new base (`activity`, `recent`, `timeline`): O(events + rows).
    /// `activity` and `extended`, when given, are the new base's activity index and
    /// timeline already (`ActivityIndex.adding`, `EventTimeline.merging`).
    private mutating func buildIndexes(activity given: ActivityIndex? = nil, timeline extended: EventTimeline? = nil) {
        activity = given ?? ActivityIndex(offsets: offsets, times: times, properties: properties)
        recent = RecentBase(offsets: offsets, times: times, properties: properties)
        timeline = extended ?? EventTimeline(offsets: offsets, times: times, properties: properties)
    }

    /// Events in the base.
    public var baseCount: Int { times.count }
    /// Events in the delta arrays (live or not).
    public var deltaCount: Int { deltaRows.count }
    /// True when a merge would change the layout (delta events or garbage to purge).
    public var needsCompaction: Bool { !deltaRows.isEmpty || deadCount > 0 }
    /// Users covered by `offsets`.
    public var coveredRows: Int { offsets.count - 1 }

    /// Whether the delta has grown enough, against the base, to be merged in the
    /// background: `minimum` events (64 Ki by default) or 1/32 of the base, whichever is
    /// more, or garbage of an eighth of the table. A merge costs O(table) of background
    /// CPU and a delta user costs a scan little more than a base user, so the delta may
    /// grow with the base: merges stay rare under heavy writes.
    public func wantsMerge(minimum: Int = 65_536) -> Bool {
        deltaCount >= Swift.max(minimum, baseCount / 32) || (deadCount > 0 && deadCount >= Swift.max(minimum, (baseCount + deltaCount) / 8))
    }

    mutating func addProperty(_ type: PropertyType) {
        properties.addProperty(type)
        recent?.addProperty(type)
        timeline?.addProperty(type)
        delta.addProperty(type, count: deltaRows.count)
        if type == .string { dictionaries.append(StringDictionary()) }
    }

    func makeRawValues() -> RawPropertyValues { RawPropertyValues(shape: properties) }

    /// Converts a property value for storage (the caller has checked its type).
    mutating func encode(_ value: Value, property index: Int, into raw: inout RawPropertyValues) {
        switch (properties.slots[index], value) {
        case (.int(let i), .int(let v)): raw.ints[i] = v
        case (.float(let i), .float(let v)): raw.floats[i] = v
        case (.bool(let i), .bool(let v)): raw.bools[i] = v ? 1 : 0
        case (.string(let i), .string(let v)): raw.strings[i] = dictionaries[i].encode(v)
        case (.int(let i), .null): raw.ints[i] = NullSentinel.int
        case (.float(let i), .null): raw.floats[i] = NullSentinel.float
        case (.bool(let i), .null): raw.bools[i] = NullSentinel.bool
        case (.string(let i), .null): raw.strings[i] = NullSentinel.stringCode
        default: preconditionFailure("property value \(value) does not fit its column; callers check types first")
        }
    }

    /// The dictionary code of a string property value, adding it when new.
    mutating func encodeString(_ value: String, slot: Int) -> UInt32 { dictionaries[slot].encode(value) }
    mutating func encodeString(bytes: UnsafeRawBufferPointer, slot: Int) -> UInt32 { dictionaries[slot].encode(bytes: bytes) }

    /// Appends one event to the delta and links it into its user's list. O(1) for an
    /// event at or after the user's latest delta event (the usual case), else
    /// O(the user's delta events).
    ///
    /// `prefetchingBase`: for a caller that reads the user's times next (the change feed,
    /// `times(of:into:)`), first start loading `row`'s base offsets into the cache, then,
    /// once the append has given them time to arrive, the first line of its base times and
    /// its first delta event: those misses then overlap the append's own and the caller's
    /// work instead of following one another.
    mutating func append(row: UInt32, time: UInt32, _ raw: RawPropertyValues, prefetchingBase: Bool = false) {
        let hasBase = Int(row) + 1 < offsets.count
        if prefetchingBase, hasBase { offsets.withUnsafeBufferPointer { cohort_prefetch($0.baseAddress! + Int(row)) } }
        precondition(unindexed == 0, "indexed append after a bulk load's unindexed appends")
        let index = UInt32(deltaRows.count)
        appendUnindexed(row: row, time: time, raw)
        unindexed = 0
        deltaNext.append(DeltaList.end)
        var list = deltaLists[row]
        if prefetchingBase {
            if hasBase, case let start = Int(offsets[Int(row)]), start < times.count {
                times.withUnsafeBufferPointer { cohort_prefetch($0.baseAddress! + start) }
            }
            if list.count > 0 {
                deltaTimes.prefetch(Int(list.first))
                deltaNext.prefetch(Int(list.first))
            }
        }
        if list.count == 0 {
            deltaLists[row] = DeltaList(first: index, last: index, count: 1)
            deltaUsers.insert(row)
            return
        }
        list.count += 1
        if deltaTimes[Int(list.last)] <= time {
            deltaNext[Int(list.last)] = index
            list.last = index
        } else if time < deltaTimes[Int(list.first)] {
            deltaNext[Int(index)] = list.first
            list.first = index
        } else {
            // After the last event of time <= `time` (ties: arrival order).
            var previous = list.first
            while deltaNext[Int(previous)] != DeltaList.end, deltaTimes[Int(deltaNext[Int(previous)])] <= time { previous = deltaNext[Int(previous)] }
            deltaNext[Int(index)] = deltaNext[Int(previous)]
            deltaNext[Int(previous)] = index
        }
        deltaLists[row] = list
    }

    /// Appends one event to the delta without indexing it: only for bulk loads, which
    /// `compact` before the table is read.
    mutating func appendUnindexed(row: UInt32, time: UInt32, _ raw: RawPropertyValues) {
        deltaRows.append(row)
        deltaTimes.append(time)
        deltaTimeRange = deltaTimeRange.map { Swift.min($0.lowerBound, time)...Swift.max($0.upperBound, time) } ?? time...time
        delta.append(raw)
        liveCount += 1
        unindexed += 1
    }

    /// Forgets `row`'s events: they stop counting now (its delta list is unlinked, its
    /// base events left for the next merge to purge). O(1) apart from the hash lookup.
    mutating func deleteEvents(of row: UInt32) {
        let inDelta = deltaLists[row].count
        let dead = range(of: row).count + inDelta
        if dead == 0 { return }
        if inDelta > 0 {
            deltaLists[row] = .empty
            deltaUsers.remove(row)
        }
        liveCount -= dead
        deadCount += dead
        deletedRows.append(row)
    }

    /// The base positions of `row`'s events (empty when it has none).
    @inline(__always)
    public func range(of row: UInt32) -> Range<Int> {
        let r = Int(row)
        guard r + 1 < offsets.count else { return 0..<0 }
        return Int(offsets[r])..<Int(offsets[r + 1])
    }

    /// Calls `body` with the position (base, or `times.count` + delta index: what the
    /// value accessors below take) and time of each of `row`'s events, base then delta
    /// (each part in time order). O(its events).
    func forEachEvent(of row: UInt32, _ body: (_ position: Int, _ time: UInt32) -> Void) {
        for p in range(of: row) { body(p, times[p]) }
        var d = deltaLists[row].first
        while d != DeltaList.end {
            body(times.count + Int(d), deltaTimes[Int(d)])
            d = deltaNext[Int(d)]
        }
    }

    /// Appends the position and time of each of `row`'s events with `lower <= time <=
    /// upper` to `out` (base then delta, each part in time order): a binary search in the
    /// base slice, the delta list walked to `upper`. O(log its events + those). A buffer,
    /// not a closure: a closure that captures an evaluator copies it per call.
    func appendEvents(of row: UInt32, from lower: Int64, through upper: Int64, into out: inout [(position: Int, time: UInt32)]) {
        guard lower <= upper, upper >= 0, lower <= Int64(UInt32.max) else { return }
        let (low, high) = (UInt32(max(0, lower)), UInt32(min(upper, Int64(UInt32.max))))
        let slice = range(of: row)
        var (a, b) = (slice.lowerBound, slice.upperBound)
        while a < b {
            let mid = (a + b) / 2
            if times[mid] < low { a = mid + 1 } else { b = mid }
        }
        while a < slice.upperBound, times[a] <= high {
            out.append((a, times[a]))
            a += 1
        }
        var d = deltaLists[row].first
        while d != DeltaList.end, deltaTimes[Int(d)] <= high {
            if deltaTimes[Int(d)] >= low { out.append((times.count + Int(d), deltaTimes[Int(d)])) }
            d = deltaNext[Int(d)]
        }
    }

    /// The rows that may have an event (base or delta) at a second in `from ... through`:
    /// those `activity` lists on the days the range touches, and every row with delta
    /// events. A superset (whole days; deleted rows the index still lists), empty when
    /// the range is; what lets a scan skip every other row unread. O(days).
    func rowsWithEvents(from: Int64, through: Int64) -> Bitmap {
        guard from <= through, through >= 0, from <= Int64(UInt32.max) else { return Bitmap() }
        var rows = activity.rows(in: UInt32(clamping: max(0, from))...UInt32(clamping: through))
        rows.formUnion(deltaUsers)
        return rows
    }

    /// Whether `row` has an event (base or delta) inside `bounds`: two binary searches in
    /// its slice (of the recent copy when it covers `bounds`, a shorter one) and a walk of
    /// its delta list. Reads through the table in place (no copy of a column or a
    /// retain of one), so parallel callers do not contend.
    func containsEvent(of row: UInt32, in bounds: ClosedRange<UInt32>) -> Bool {
        let r = Int(row)
        func inSlice(_ offsets: ContiguousArray<UInt32>, _ times: ContiguousArray<UInt32>) -> Bool {
            offsets.withUnsafeBufferPointer { o in
                times.withUnsafeBufferPointer { t in r + 1 < o.count && !EventWindow.slice(t, Int(o[r]), Int(o[r + 1]), bounds).isEmpty }
            }
        }
        let found = recent?.covers(bounds) == true ? inSlice(recent!.offsets, recent!.times) : inSlice(offsets, times)
        if found || deltaCount == 0 { return found }
        var d = deltaLists[row].first
        while d != DeltaList.end, deltaTimes[Int(d)] <= bounds.upperBound {
            if deltaTimes[Int(d)] >= bounds.lowerBound { return true }
            d = deltaNext[Int(d)]
        }
        return false
    }

    /// `forEachEvent`, times only: for the change feed's breakpoints.
    func forEachTime(of row: UInt32, _ body: (UInt32) -> Void) { forEachEvent(of: row) { body($1) } }

    /// `row`'s event times, base and delta, ascending, into `out` (emptied first): the
    /// two parts, each in time order, merged. O(its events); no allocation once `out`
    /// has the capacity (the change feed reuses one buffer).
    func times(of row: UInt32, into out: inout [Int64]) {
        out.removeAll(keepingCapacity: true)
        let slice = range(of: row)
        var b = slice.lowerBound
        var d = deltaLists[row].first
        while d != DeltaList.end {
            let t = deltaTimes[Int(d)]
            while b < slice.upperBound, times[b] <= t {
                out.append(Int64(times[b]))
                b += 1
            }
            out.append(Int64(t))
            d = deltaNext[Int(d)]
        }
        while b < slice.upperBound {
            out.append(Int64(times[b]))
            b += 1
        }
    }

    /// `times(of:into:)`, changing nothing: `mutating` only so that a caller reaching
    /// the table as `tables[t]` reads it in place. A non-mutating call there copies the
    /// table out of the array first (a retain and a release per column), which the
    /// change feed's write path, once per write, cannot afford.
    mutating func timesInPlace(of row: UInt32, into out: inout [Int64]) { times(of: row, into: &out) }

    // MARK: Values by position (base or delta)

    @inline(__always) func intValue(_ slot: Int, _ p: Int) -> Int64 {
        p < times.count ? properties.ints[slot][p] : delta.ints[slot][p - times.count]
    }
    @inline(__always) func floatValue(_ slot: Int, _ p: Int) -> Double {
        p < times.count ? properties.floats[slot][p] : delta.floats[slot][p - times.count]
    }
    @inline(__always) func boolValue(_ slot: Int, _ p: Int) -> UInt8 {
        p < times.count ? properties.bools[slot][p] : delta.bools[slot][p - times.count]
    }
    @inline(__always) func stringCode(_ slot: Int, _ p: Int) -> UInt32 {
        p < times.count ? properties.strings[slot][p] : delta.strings[slot][p - times.count]
    }

    // MARK: Merging

    /// The base that merging every delta event into this one gives, deleted users'
    /// events dropped. Pure: runs on a copy off the write lock (O(events + rows)), and
    /// `install` publishes it.
    func merged(live: Bitmap, rowCount: Int) -> MergedBase {
        var copy = self
        copy.compact(live: live, rowCount: rowCount)
        return MergedBase(
            offsets: copy.offsets, times: copy.times, properties: copy.properties, activity: copy.activity, recent: copy.recent,
            timeline: copy.timeline,
            mergedDelta: deltaCount, deletions: deletedRows.count, slots: properties.slots.count)
    }

    /// A base computed by `merged(live:rowCount:)` from this table's first `mergedDelta` delta
    /// events.
    struct MergedBase: Sendable {
        let offsets: ContiguousArray<UInt32>
        let times: ContiguousArray<UInt32>
        let properties: PropertyColumns
        let activity: ActivityIndex
        let recent: RecentBase?
        let timeline: EventTimeline?
        let mergedDelta: Int
        /// `deletedRows.count` when it was taken: later deletions are not in it.
        let deletions: Int
        let slots: Int
    }

    /// Installing a merge, in two steps so the write lock is held only briefly:
    ///
    /// 1. `installing(_:live:)`, no lock held, on a copy of the table taken after the
    ///    merge finished: the table with `merged` as its base and, as its delta, the
    ///    copy's events that arrived after the merge was taken (O(those events));
    /// 2. `adopt(_:builtFrom:live:)`, under the write lock: that table made current,
    ///    catching up the events appended and the users deleted since the copy (O(those),
    ///    a short interval), then an O(1) swap.
    ///
    /// Users deleted after the merge was taken are dead rows: their events in the new
    /// base are garbage (counted in `deadCount`), invisible because readers only look at
    /// live rows. Nil / false, changing nothing, when a property was added meanwhile.
    func installing(_ merged: MergedBase, live: Bitmap) -> EventTable? {
        guard merged.slots == properties.slots.count, merged.mergedDelta <= deltaCount, merged.deletions <= deletedRows.count else { return nil }
        var rest = EventTable()
        rest.delta = DeltaColumns(shape: merged.properties)
        rest.offsets = merged.offsets
        rest.times = merged.times
        rest.properties = merged.properties
        rest.activity = merged.activity
        rest.recent = merged.recent
        rest.timeline = merged.timeline
        for i in merged.mergedDelta..<deltaCount where live.contains(deltaRows[i]) {
            rest.append(row: deltaRows[i], time: deltaTimes[i], delta.raw(at: i))
        }
        // Rows deleted after the merge was taken still have events in its base.
        for row in deletedRows[merged.deletions...] {
            rest.deadCount += rest.range(of: row).count
            rest.deletedRows.append(row)
        }
        rest.liveCount = rest.times.count - rest.deadCount + rest.deltaCount
        rest.dictionaries = dictionaries
        return rest
    }

    /// Step 2 of installing a merge (see `installing`): `basis` is the copy's
    /// `deltaCount` and `deletedRows.count`.
    mutating func adopt(_ prepared: EventTable, builtFrom basis: (deltaCount: Int, deletions: Int), live: Bitmap) -> Bool {
        guard prepared.properties.slots.count == properties.slots.count, basis.deltaCount <= deltaCount, basis.deletions <= deletedRows.count else {
            return false
        }
        var next = prepared
        for i in basis.deltaCount..<deltaCount where live.contains(deltaRows[i]) {
            next.append(row: deltaRows[i], time: deltaTimes[i], delta.raw(at: i))
        }
        for row in deletedRows[basis.deletions...] { next.deleteEvents(of: row) }
        next.dictionaries = dictionaries
        self = next
        return true
    }

    /// Merges the delta into the base and drops events of dead rows, in place.
    ///
    /// Stable: among equal times, events keep arrival order (base ones arrived before
    /// delta ones; delta ones keep their order). O(events + rows) time, one extra copy
    /// of the columns in memory while it runs. For loads and private copies: the
    /// serving engine merges with `merged(live:rowCount:)` and `install` instead.
    ///
    /// `transient` is for a copy that is only encoded and then dropped (a snapshot's: the
    /// file holds the base layout, and a read rebuilds the indexes): the activity index,
    /// recent copy and timeline are not built but emptied, a third of the work saved, and
    /// the copy must not be queried; its columns are not backed by huge pages (freeing
    /// hundreds of MB of them stalled requests for 16–40 ms two seconds after a snapshot
    /// with no merge running; docs/performance.md).
    mutating func compact(live: Bitmap, rowCount: Int, transient: Bool = false) {
        guard needsCompaction else { return }
        let baseCount = times.count

        // Delta events grouped by row, arrival order kept (counting sort).
        var deltaStart = ContiguousArray<UInt32>(repeating: 0, count: rowCount + 1)
        for i in 0..<deltaRows.count { deltaStart[Int(deltaRows[i]) + 1] &+= 1 }
        for u in 0..<rowCount { deltaStart[u + 1] &+= deltaStart[u] }
        var byRow = ContiguousArray<UInt32>(repeating: 0, count: deltaRows.count)
        var fill = deltaStart
        for i in 0..<deltaRows.count {
            let r = deltaRows[i]
            byRow[Int(fill[Int(r)])] = UInt32(i)
            fill[Int(r)] &+= 1
        }

        // The new order as indices into `times ++ deltaTimes`.
        var newOffsets = ContiguousArray<UInt32>(repeating: 0, count: rowCount + 1)
        var source = ContiguousArray<UInt32>()
        source.reserveCapacity(liveCount)
        var scratch: [UInt32] = []
        for u in 0..<rowCount {
            defer { newOffsets[u + 1] = UInt32(source.count) }
            guard live.contains(UInt32(u)) else { continue }
            let base = range(of: UInt32(u))
            let p = Int(deltaStart[u])..<Int(deltaStart[u + 1])
            if p.isEmpty {
                for k in base { source.append(UInt32(k)) }
                continue
            }
            // Stable sort of this user's delta events by time (indices grow with arrival).
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: byRow[p])
            scratch.sort { (deltaTimes[Int($0)], $0) < (deltaTimes[Int($1)], $1) }
            var b = base.lowerBound
            var k = 0
            while b < base.upperBound || k < scratch.count {
                // On equal times the base event arrived first.
                if k == scratch.count || (b < base.upperBound && times[b] <= deltaTimes[Int(scratch[k])]) {
                    source.append(UInt32(b))
                    b += 1
                } else {
                    source.append(UInt32(baseCount) + scratch[k])
                    k += 1
                }
            }
        }

        // The activity index from the old one plus the delta (a third of a merge's time
        // when rebuilt from every event), unless the delta is most of the table.
        let deltaProperties = delta.flattened(shape: properties, count: deltaRows.count)
        let activity = !transient && baseCount > 0 && deltaRows.count < baseCount
            ? self.activity.adding(rows: deltaRows, times: deltaTimes, properties: deltaProperties) : nil
        let addedTimes = deltaTimes.flattened()
        times = gatherColumn(times, addedTimes, source, hugePages: !transient)
        properties = PropertyColumns.gather(properties, deltaProperties, source: source, hugePages: !transient)
        offsets = newOffsets
        if !transient {
            // The timeline extended by the delta (one pass over it, no sort of the
            // window), unless the delta is most of the table.
            let timeline = deltaRows.count < baseCount ? times.max().flatMap {
                self.timeline?.merging(
                    byRow: byRow, rows: deltaRows.flattened(), times: addedTimes, properties: deltaProperties, live: live,
                    checkRows: deadCount > 0, latest: $0)
            } : nil
            buildIndexes(activity: activity, timeline: timeline)
        } else {
            (self.activity, recent, timeline) = (ActivityIndex(), nil, nil)
        }
        deltaRows = ChunkedArray()
        deltaTimes = ChunkedArray()
        deltaTimeRange = nil
        delta = DeltaColumns(shape: properties)
        deltaNext = ChunkedArray()
        deltaLists = RowPages(empty: .empty)
        deltaUsers = Bitmap()
        unindexed = 0
        deadCount = 0
        deletedRows = []
        liveCount = times.count
    }

    /// Heap bytes of the time, offset and property columns, base and delta.
    public var memoryBytes: Int {
        offsets.capacity * 4 + times.capacity * 4 + properties.memoryBytes + deltaRows.memoryBytes + deltaTimes.memoryBytes
            + deltaNext.memoryBytes + deltaLists.memoryBytes + delta.memoryBytes + activity.memoryBytes
            + (recent?.memoryBytes ?? 0) + (timeline?.memoryBytes ?? 0)
    }

    /// Heap bytes of the (user, time) part alone: offsets, times, delta rows, times, links.
    public var userTimeBytes: Int { offsets.count * 4 + times.count * 4 + deltaRows.count * 12 }
}
